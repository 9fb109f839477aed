--[[
  Extends a user's active window (POST /user/active/update, WebSocket
  user_activity) and wakes the presence service only when the window was not
  already open, so steady heartbeats cost one ZADD each.

  KEYS[1] presence:active    zset login -> active-until ms
  KEYS[2] presence:events    stream
  KEYS[3] presence:state     hash login -> "1:<sinceMs>" / "0:<lastSeenMs>"

  ARGV[1] login
  ARGV[2] now ms
  ARGV[3] active-until ms
  ARGV[4] events stream MAXLEN (approximate)

  Returns 1 when an event was emitted, else 0.
]]
local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0')
redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
if old > tonumber(ARGV[2]) then
  return 0
end
local state = redis.call('HGET', KEYS[3], ARGV[1])
if state and string.sub(state, 1, 1) == '1' then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'l', ARGV[1], 'k', 'active', 'n', '', 't', ARGV[2])
return 1
