/* Firmware identity shared by the device and the simulator. */
#ifndef HOWDY_VERSION_H
#define HOWDY_VERSION_H

#define HOWDY_FIRMWARE_VERSION "0.1.0"
#define HOWDY_MANUFACTURER "HowdyScreen"
/* DeviceInfo.esphome_version: the ESPHome release whose native-API level
 * (1.10) this profile matches. Home Assistant's esphome integration parses it
 * as a version and shows it next to ours. */
#define HOWDY_ESPHOME_COMPAT_VERSION "2025.4.0"
/* mDNS TXT api_encryption value, the one ESPHome devices announce. */
#define HOWDY_NOISE_PROTOCOL_NAME "Noise_NNpsk0_25519_ChaChaPoly_SHA256"

#endif /* HOWDY_VERSION_H */
