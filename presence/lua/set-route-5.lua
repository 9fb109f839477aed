--[[
  Sets the number of sockets a user has open on one gateway (absolute, from the
  gateway's own count, so replays and resyncs are idempotent) and reports the
  gateway-level edges to the presence service.

  KEYS[1] route:{login}      hash node -> sockets
  KEYS[2] gw-users:{node}    set of logins with sockets on the node
  KEYS[3] gateways           zset node -> lease expiry ms
  KEYS[4] presence:events    stream
  KEYS[5] presence:active    zset login -> active-until ms

  ARGV[1] node
  ARGV[2] login
  ARGV[3] sockets (>= 0)
  ARGV[4] now ms
  ARGV[5] gateway lease ms
  ARGV[6] events stream MAXLEN (approximate)

  Returns { previous sockets, 1 if the node had to be registered in `gateways` else 0 }.
  - 0 -> n: XADD presence:events l=login k=up n=node t=now
  - n -> 0: XADD ... k=down; when the user has no socket on any gateway any more, the
    active window (presence:active) is dropped too: closing the last socket means offline.
  - A write for a node missing from `gateways` (swept while it stalled) registers it again
    with a fresh lease, so its entries can never outlive it unswept; the caller then resyncs.
]]
local node, login = ARGV[1], ARGV[2]
local count, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local old = tonumber(redis.call('HGET', KEYS[1], node) or '0')

local registered = 0
if count > 0 and not redis.call('ZSCORE', KEYS[3], node) then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), node)
  registered = 1
end

if count > 0 then
  redis.call('HSET', KEYS[1], node, count)
  if old == 0 then
    redis.call('SADD', KEYS[2], login)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'l', login, 'k', 'up', 'n', node, 't', ARGV[4])
  end
else
  redis.call('HDEL', KEYS[1], node)
  redis.call('SREM', KEYS[2], login)
  if old > 0 then
    if redis.call('HLEN', KEYS[1]) == 0 then
      redis.call('ZREM', KEYS[5], login)
    end
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'l', login, 'k', 'down', 'n', node, 't', ARGV[4])
  end
end
return { old, registered }
