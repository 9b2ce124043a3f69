export { deriveTopic, deriveTopicAsync, TOPIC_SALT_PREFIX, TOPIC_PBKDF2_ITERATIONS, TOPIC_ID_BYTES, TOPIC_KEY_BYTES, type TopicKeys } from './derive.js'
export { TopicCache, TOPIC_CACHE_DEFAULT_SIZE, type TopicCacheInit } from './cache.js'
