-- Renews many chat leases of one owner in a single call (one per shard tick).
-- KEYS[1..n]  lease keys
-- ARGV[1]     owner token
-- ARGV[2]     lease time in ms
-- Returns an array of n integers: 1 renewed, 0 lost (missing or held by another owner).
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
