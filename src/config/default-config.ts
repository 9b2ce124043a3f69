/**
 * The complete, commented default config.yaml that `asmtpd-cli default-config` prints.
 * config.yaml.example in the repository root is byte-identical to it (a test checks).
 */
export const DEFAULT_CONFIG_YAML = `# asmtpd configuration (YAML). Every field but \`secret\` is optional; the values below are the
# defaults. Relative paths are resolved against the folder of this file. Unknown fields are errors.
# Reference: docs/CONFIGURATION.md

# Path of the node key file (Ed25519). It gives the node its public id (what clients pin with
# --remote-id) and its libp2p PeerId. Create it with: asmtpd-cli generate-new-key --output node.key
# An encrypted key file is unlocked with the environment variable ASMTPD_KEY_PASSWORD.
secret: ./node.key

# Device keys allowed on the client channel: hex Ed25519 public keys (64 hex digits), one per
# device, as printed by the client. Quote a key that happens to be all digits. Any other device is
# disconnected before it can send a request.
users: []

client:
  # host:port of the client channel (Noise IK over TCP). For IPv6 write '[::1]:9800' (quoted).
  # Port 0 picks a free port.
  listen: 127.0.0.1:9800

network:
  # libp2p listen multiaddrs (TCP, IPv4 and IPv6).
  listen:
    - /ip4/0.0.0.0/tcp/9801
    - /ip6/::/tcp/9801
  # Multiaddrs to announce to other nodes instead of the listen ones (e.g. a public address
  # behind NAT or a port forward). Empty: announce the listen addresses.
  announce: []
  # Nodes to connect to at start, each a multiaddr ending in /p2p/<PeerId>, such as
  # /ip4/203.0.113.7/tcp/9801/p2p/12D3KooW... Put relays here: a home node dials them first.
  bootstrap: []
  # Bucket bits b (0 to 16), one value for the whole network: envelopes travel in 2^b shared
  # buckets, and a bucket's members are the anonymity set. Fewer bits hide more and carry more
  # bytes; docs/PRIVACY.md gives the formula. Changing it is a flag day for the network.
  bucket_bits: 4
  # A relay subscribes to and stores every bucket (needs bucket_bits <= 8) and announces itself
  # in the DHT, so that home nodes, also those behind NAT, reach bucket peers through it.
  relay: false
  # false for a node behind NAT with no open port: it runs the DHT in client mode and only
  # dials out (to relays). Relays must be reachable.
  reachable: true
  # How long frames live on the network (a frame with TTL class 0); network-wide.
  frame_lifetime: 14d
  # Proof of work: leading zero bits of a 1 KiB frame's stamp (one more per size class).
  # Network-wide; the default costs about 5 ms of one core per 1 KiB frame.
  stamp_bits: 4
  # Largest file a user can send: every member of a bucket carries every byte of it.
  max_file_bytes: 16MiB
  # A private network: only nodes with the same key can connect at all (libp2p pnet). Either
  # private_key (64 hex digits, quoted; asmtpd-cli new-network prints one and the lines others
  # add) or passphrase (at least 12 characters; scrypt turns it into the key, docs/CONFIGURATION.md),
  # not both. Empty: the open network. Keep this file 0600 when it holds either.
  private_key: null
  passphrase: null
  # Find other nodes on the local network by multicast DNS (no bootstrap list needed on a LAN).
  mdns: false

storage:
  # LevelDB folder: frames, passports, registered topics and the libp2p peer store.
  path: ./data
  # How long mail for this node's users is kept after it arrived, for offline devices, even
  # when its frame has expired on the network: a number of seconds or whole units d, h, m, s
  # (30d, 36h, 1d12h). From 1s to 3650d. Mail no device has fetched yet is never deleted.
  retention: 30d
  # Space for frames this node only carries for others, shared out equally between the
  # buckets it stores (oldest first within a bucket): a size such as 1GiB, 512MiB.
  relay_quota: 1GiB
  # true: every frame and every acknowledged send is on disk (fsync) before the node says so to
  # a device or a peer, so it survives a power loss; false: it survives a crash of the process
  # (kill -9) but the last seconds may be lost with the machine (docs/STORAGE.md).
  sync: true
  # RAM only: keep the store and the libp2p peer store in memory, nothing on disk (path is not
  # used). A restart forgets every frame, topic and peer. With it, secret may be left out: the
  # node then makes a new key at each start (or pass one in: asmtpd --key-stdin).
  memory: false
  # Most frames stored, relayed-only and matched (0: no cap). Over the cap the oldest relayed-only
  # frames go first; this node's users' mail is never dropped: relayed frames are refused instead
  # (asmtpd-cli status says so).
  max_messages: 0

limits:
  # Largest envelope accepted, in bytes (1 to 65536).
  max_envelope_size: 65536
  # Rate limit: messages per second accepted from one peer.
  max_peer_messages_per_second: 500
  # Bound of the queue of envelopes waiting to be published (back-pressure on publishers).
  max_publish_queue: 1024

log:
  # error | warn | info | debug (asmtpd --log-level overrides it; DEBUG=asmtp:* shows all logs).
  level: info

metrics:
  # host:port of the operator's HTTP endpoint: /metrics (Prometheus text) and /status (JSON, what
  # asmtpd-cli status prints). Use a loopback address; empty: off.
  listen: null
`
