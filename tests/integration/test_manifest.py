"""The metadata HACS and Home Assistant's loader read, checked the way they check it.

hassfest is not shipped in the homeassistant wheel, so these tests restate the
rules it applies to custom integrations (and those HACS applies to a
repository) and check our files against them.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

from awesomeversion import AwesomeVersion, AwesomeVersionStrategy
import homeassistant
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_custom_components
from packaging.requirements import Requirement
import pytest

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "howdyscreen"
MANIFEST = json.loads((INTEGRATION / "manifest.json").read_text())
HACS = json.loads((ROOT / "hacs.json").read_text())

# The keys hassfest's manifest schema accepts for a custom integration.
MANIFEST_KEYS = {
    "domain",
    "name",
    "after_dependencies",
    "bluetooth",
    "codeowners",
    "config_flow",
    "dependencies",
    "dhcp",
    "disabled",
    "documentation",
    "homekit",
    "import_executor",
    "integration_type",
    "iot_class",
    "issue_tracker",
    "loggers",
    "mqtt",
    "quality_scale",
    "requirements",
    "single_config_entry",
    "ssdp",
    "usb",
    "version",
    "zeroconf",
}
REQUIRED_MANIFEST_KEYS = {
    "domain",
    "name",
    "codeowners",
    "documentation",
    "issue_tracker",
    "requirements",
    "version",
    "iot_class",
    "integration_type",
    "config_flow",
}
# The keys HACS accepts in hacs.json.
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "hacs",
    "persistent_directory",
}
HA_COMPONENTS = Path(homeassistant.__file__).parent / "components"


def test_manifest_keys() -> None:
    """Only known keys, all required ones, domain and name first, the rest sorted."""
    keys = list(MANIFEST)
    assert set(keys) <= MANIFEST_KEYS, set(keys) - MANIFEST_KEYS
    assert set(keys) >= REQUIRED_MANIFEST_KEYS, REQUIRED_MANIFEST_KEYS - set(keys)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert MANIFEST["domain"] == INTEGRATION.name == "howdyscreen"


def test_manifest_values() -> None:
    """Values have the types and forms the loader and hassfest require."""
    assert AwesomeVersion(MANIFEST["version"]).strategy in {
        AwesomeVersionStrategy.SEMVER,
        AwesomeVersionStrategy.SIMPLEVER,
        AwesomeVersionStrategy.CALVER,
    }
    assert MANIFEST["config_flow"] is True
    assert (INTEGRATION / "config_flow.py").is_file()
    assert MANIFEST["iot_class"] == "local_push"
    assert MANIFEST["integration_type"] == "device"
    assert MANIFEST["zeroconf"] == ["_howdyscreen._tcp.local."]
    for url_key in ("documentation", "issue_tracker"):
        assert MANIFEST[url_key].startswith("https://")
    assert all(owner.startswith("@") for owner in MANIFEST["codeowners"])
    for domain in MANIFEST["dependencies"] + MANIFEST.get("after_dependencies", []):
        assert (HA_COMPONENTS / domain / "manifest.json").is_file(), domain
    assert MANIFEST["dependencies"] == sorted(MANIFEST["dependencies"])


def test_requirements_only_bound_from_below() -> None:
    """aioesphomeapi never gets a pin that could fight the esphome integration's."""
    requirements = [Requirement(line) for line in MANIFEST["requirements"]]
    by_name = {req.name: req for req in requirements}
    # Only lower bounds: Home Assistant's own pins (the esphome integration's
    # aioesphomeapi, the core's numpy constraint) must always satisfy ours.
    for requirement in requirements:
        assert [spec.operator for spec in requirement.specifier] == [">="], requirement
    api = by_name["aioesphomeapi"]
    # The version Home Assistant's own esphome integration pins must satisfy it.
    esphome = json.loads((HA_COMPONENTS / "esphome" / "manifest.json").read_text())
    pinned = next(
        Requirement(line)
        for line in esphome["requirements"]
        if line.startswith("aioesphomeapi")
    )
    (pinned_spec,) = pinned.specifier
    assert api.specifier.contains(pinned_spec.version)


def test_hacs_json() -> None:
    """hacs.json names the integration and the oldest Home Assistant we support."""
    assert set(HACS) <= HACS_KEYS, set(HACS) - HACS_KEYS
    assert HACS["name"] == MANIFEST["name"]
    assert HACS["homeassistant"] == "2025.4.0"
    assert AwesomeVersion(ha_version) >= AwesomeVersion(HACS["homeassistant"])
    # HACS takes an integration from custom_components/<domain>/ unless told otherwise.
    assert not HACS.get("content_in_root", False)
    assert [
        p.name
        for p in (ROOT / "custom_components").iterdir()
        if p.is_dir() and not p.name.startswith("__")
    ] == ["howdyscreen"]


async def test_loader_reads_the_manifest(hass: HomeAssistant) -> None:
    """Home Assistant's own loader finds the integration with our metadata."""
    integrations = await async_get_custom_components(hass)
    integration = integrations["howdyscreen"]
    assert integration.version == AwesomeVersion(MANIFEST["version"])
    assert integration.config_flow
    assert integration.dependencies == MANIFEST["dependencies"]


@pytest.mark.parametrize("name", ["strings.json", "translations/en.json"])
def test_strings_are_json(name: str) -> None:
    """Strings files parse."""
    json.loads((INTEGRATION / name).read_text())


def test_translations_are_current() -> None:
    """translations/en.json is strings.json with Home Assistant's references resolved."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "translations"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
