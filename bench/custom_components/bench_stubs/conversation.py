"""Conversation agent stub: a fixed reply after a fixed latency.

With ``agent_stream_seconds`` > 0 and a Home Assistant whose agents can
stream (``ConversationEntity._attr_supports_streaming`` exists, 2025.5+), the
reply goes into the chat log in ``agent_stream_pieces`` pieces spread over
that many seconds, so the pipeline can start text-to-speech early. On older
releases the reply is returned whole after the same total time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any, Literal

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .const import AGENT_ENTITY_ID, DOMAIN, StubData

CAN_STREAM = hasattr(conversation.ConversationEntity, "_attr_supports_streaming")


async def async_setup_entry(
    hass: HomeAssistant, entry: ConfigEntry, async_add_entities: AddEntitiesCallback
) -> None:
    """Add the agent entity."""
    async_add_entities([BenchAgent(hass.data[DOMAIN])])


def split_text(text: str, pieces: int) -> list[str]:
    """Split text into about `pieces` pieces at word boundaries."""
    words = text.split(" ")
    pieces = max(1, min(pieces, len(words)))
    size = -(-len(words) // pieces)
    parts = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p + " " if k < len(parts) - 1 else p for k, p in enumerate(parts)]


class BenchAgent(conversation.ConversationEntity):
    """Answers every question with the configured reply."""

    _attr_name = "Bench agent"
    _attr_unique_id = "bench_agent"

    def __init__(self, data: StubData) -> None:
        self._data = data
        self.entity_id = AGENT_ENTITY_ID
        self._serial = 0
        if CAN_STREAM:
            self._attr_supports_streaming = True

    @property
    def supported_languages(self) -> list[str] | Literal["*"]:
        """Any language."""
        return "*"

    async def _async_handle_message(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
    ) -> conversation.ConversationResult:
        data = self._data
        settings = data.settings
        data.stats.agent_calls += 1
        data.event("agent_start", text=user_input.text)
        await asyncio.sleep(settings.agent_latency_ms / 1000)
        text = settings.reply_text
        if settings.reply_serial:
            self._serial += 1  # not a stats counter: a reset must not repeat one
            text = f"{text} (reply {self._serial})"
        if CAN_STREAM and settings.agent_stream_seconds > 0:
            pieces = split_text(text, settings.agent_stream_pieces)
            gap = settings.agent_stream_seconds / max(1, len(pieces) - 1)

            async def deltas() -> AsyncGenerator[dict[str, Any]]:
                yield {"role": "assistant"}
                for k, piece in enumerate(pieces):
                    if k:
                        await asyncio.sleep(gap)
                    data.event("agent_text", index=k, chars=len(piece))
                    yield {"content": piece}

            async for _content in chat_log.async_add_delta_content_stream(
                self.entity_id,
                deltas(),  # type: ignore[arg-type]
            ):
                pass
        else:
            await asyncio.sleep(settings.agent_stream_seconds)
            data.event("agent_text", index=0, chars=len(text))
            chat_log.async_add_assistant_content_without_tools(
                conversation.AssistantContent(agent_id=self.entity_id, content=text)
            )
        data.event("agent_end")
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_speech(text)
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )
