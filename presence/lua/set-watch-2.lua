--[[
  Sets how many sockets of one gateway have the dialog of `watcher` with `peer`
  open (absolute, from the gateway's own count) and moves the cluster-wide
  watcher count of `peer` by the difference, so replays and resyncs are idempotent.

  KEYS[1] gw-watch:{node}    hash "watcher peer" -> sockets on this node
  KEYS[2] watchers:{peer}    hash watcher -> sockets on all nodes

  ARGV[1] watcher login
  ARGV[2] peer login
  ARGV[3] sockets (>= 0)

  Returns the previous count on this node.
]]
local field = ARGV[1] .. ' ' .. ARGV[2]
local count = tonumber(ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if count == old then
  return old
end
if count > 0 then
  redis.call('HSET', KEYS[1], field, count)
else
  redis.call('HDEL', KEYS[1], field)
end
local total = redis.call('HINCRBY', KEYS[2], ARGV[1], count - old)
if total <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return old
