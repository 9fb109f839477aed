-- Where users are connected, in one call: the live gateways among their routes.
-- KEYS[1]     gateways (zset: node -> lease expiry, ms)
-- KEYS[2..n]  route hashes route:{login} (node -> open sockets there)
-- ARGV[1]     now (ms)
-- Returns a flat array node1, indices1, node2, indices2, ... in order of first appearance, where
-- indices are the comma-separated 0-based positions (in KEYS[2..n]) of the logins with a socket on that
-- node. Nodes whose lease expired, or that are not registered, are left out.
local now = tonumber(ARGV[1])
local byNode = {}
local order = {}
for i = 2, #KEYS do
  local nodes = redis.call('HKEYS', KEYS[i])
  for _, node in ipairs(nodes) do
    local list = byNode[node]
    if not list then
      list = {}
      byNode[node] = list
      order[#order + 1] = node
    end
    list[#list + 1] = i - 2
  end
end
local out = {}
for _, node in ipairs(order) do
  local expiry = redis.call('ZSCORE', KEYS[1], node)
  if expiry and tonumber(expiry) > now then
    out[#out + 1] = node
    out[#out + 1] = table.concat(byNode[node], ',')
  end
end
return out
