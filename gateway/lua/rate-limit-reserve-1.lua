-- Reserves part of one fixed window's budget for a gateway (see RateLimiter.consume).
-- KEYS[1]  counter key of the window (rl:{name}:{id}:{window index})
-- ARGV[1]  window in ms (the key lives for two windows)
-- ARGV[2]  allowed count per window
-- ARGV[3]  how many to reserve at most
-- Returns how many were granted (0 when the window's budget is spent); the counter never exceeds ARGV[2].
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - used)
if grant <= 0 then
  return 0
end
redis.call('INCRBY', KEYS[1], grant)
if used == 0 then
  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
end
return grant
