-- Acquires or re-affirms one chat lease.
-- KEYS[1]  lease key (lease:{chatId})
-- ARGV[1]  owner token ("shardId:incarnation")
-- ARGV[2]  lease time in ms
-- Returns 1 when the caller holds the lease for ARGV[2] ms from now, 0 when another owner holds it.
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
