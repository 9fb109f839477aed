-- Acquires or re-affirms many chat leases of one owner in a single call (one per activation tick).
-- KEYS[1..n]  lease keys (lease:{chatId})
-- ARGV[1]     owner token ("shardId:incarnation")
-- ARGV[2]     lease time in ms
-- Returns an array of n integers: 1 when the caller holds that lease for ARGV[2] ms from now, 0 when
-- another owner holds it. Each key is decided exactly as lease-acquire-1 decides it; the script runs
-- atomically, so two shards racing for the same chat can never both get 1.
local out = {}
for i, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current == false then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  elseif current == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
