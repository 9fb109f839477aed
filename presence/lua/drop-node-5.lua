--[[
  Removes everything one gateway holds in presence: its lease, its users'
  routes and its dialog watchers. Used by the presence sweep for gateways
  whose lease expired, and by a gateway itself on shutdown or on boot (leftovers
  of an earlier process with the same node id).

  KEYS[1] gateways           zset node -> lease expiry ms
  KEYS[2] gw-users:{node}    set
  KEYS[3] gw-watch:{node}    hash "watcher peer" -> sockets
  KEYS[4] presence:active    zset
  KEYS[5] presence:events    stream

  ARGV[1] node
  ARGV[2] route key prefix    ("<prefix>route:"; the login is appended)
  ARGV[3] watchers key prefix ("<prefix>watchers:"; the peer is appended)
  ARGV[4] now ms
  ARGV[5] "expired": only if the lease expired (score <= now); "force": always
  ARGV[6] "1": XADD k=down for each user left without sockets (a graceful stop, so the
          presence service debounces it); "0": the caller settles those users itself
  ARGV[7] events stream MAXLEN (approximate)

  Returns false when ARGV[5] is "expired" and the lease has not expired (or the node is
  unknown); otherwise { lease expiry ms or 0, login, login, ... } listing the users that
  have no socket on any gateway any more (their active windows are dropped too).
]]
local node = ARGV[1]
local score = redis.call('ZSCORE', KEYS[1], node)
if ARGV[5] == 'expired' and (not score or tonumber(score) > tonumber(ARGV[4])) then
  return false
end
redis.call('ZREM', KEYS[1], node)

local result = { tonumber(score or '0') }
for _, login in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local route = ARGV[2] .. login
  redis.call('HDEL', route, node)
  if redis.call('HLEN', route) == 0 then
    redis.call('ZREM', KEYS[4], login)
    result[#result + 1] = login
    if ARGV[6] == '1' then
      redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'l', login, 'k', 'down', 'n', node, 't', ARGV[4])
    end
  end
end
redis.call('DEL', KEYS[2])

local watches = redis.call('HGETALL', KEYS[3])
for i = 1, #watches, 2 do
  local watcher, peer = string.match(watches[i], '^(%S+) (%S+)$')
  if watcher then
    local key = ARGV[3] .. peer
    if redis.call('HINCRBY', key, watcher, -tonumber(watches[i + 1])) <= 0 then
      redis.call('HDEL', key, watcher)
    end
  end
end
redis.call('DEL', KEYS[3])
return result
