/** The node configuration: config.yaml validated once into a typed NodeConfig. */
export * from './schema.js'
export { parseConfig, loadConfig, type ParseConfigOptions } from './parse.js'
export { parseDuration, formatDuration } from './duration.js'
export { DEFAULT_CONFIG_YAML } from './default-config.js'
export { loadNodeKey, KEY_PASSWORD_ENV } from './node-key.js'
export { loopbackConfig, loopbackConfigYaml, type LoopbackConfigInit, type LoopbackConfigYamlInit } from './loopback.js'
export { networkKeyFromPassphrase, NETWORK_KEY_BYTES, PASSPHRASE_SALT, PASSPHRASE_SCRYPT, PNET_KEY_HEADER } from './modes.js'
