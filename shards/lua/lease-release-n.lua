-- Releases chat leases held by one owner, leaving others' leases untouched.
-- KEYS[1..n]  lease keys
-- ARGV[1]     owner token
-- Returns the number of leases released.
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
