-- model-serving: OpenAI-compatible routing by the JSON body's "model" (README: One OpenAI-compatible endpoint).
-- Strips client-sent routing headers; for POST /v1/* on the OpenAI host reads the top-level "model"
-- and "stream" of the body, sets them as headers and clears the route cache so the VirtualService
-- matches on them. Bodies are buffered up to LIMIT bytes (larger: 413).
local HOST = "__HOST__"
local LIMIT = __LIMIT__
local MODEL = "__MODEL_HEADER__"
local STREAM = "__STREAM_HEADER__"
-- The OpenAI-style error bodies, rendered at synth by the construct (k8s/openai.py error_body).
local TOO_LARGE = [[__TOO_LARGE__]]
local NO_MODEL = [[__NO_MODEL__]]
local UNKNOWN_MODEL = [[__UNKNOWN_MODEL__]]
local find, sub = string.find, string.sub

local function reject(handle, status, body)
  handle:respond({[":status"] = tostring(status), ["content-type"] = "application/json"}, body)
end

-- The index of the quote closing the JSON string opened at i, or nil.
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = find(s, '["\\]', j)
    if k == nil or sub(s, k, k) == '"' then return k end
    j = k + 2
  end
end

-- The index of the last character of the JSON value starting at i, or nil.
local function value_end(s, i)
  local c = sub(s, i, i)
  if c == '"' then return string_end(s, i) end
  if c ~= "{" and c ~= "[" then
    local k = find(s, "[,}%s]", i)
    return k and k - 1
  end
  local depth, j = 0, i
  while true do
    local k = find(s, '[%[%]{}"]', j)
    if k == nil then return nil end
    local d = sub(s, k, k)
    if d == '"' then
      k = string_end(s, k)
      if k == nil then return nil end
    elseif d == "{" or d == "[" then
      depth = depth + 1
    else
      depth = depth - 1
      if depth == 0 then return k end
    end
    j = k + 1
  end
end

-- The raw JSON text of the top-level "model" and "stream" members of an object, or nil if s is not one.
local function members(s)
  local i = find(s, "%S")
  if i == nil or sub(s, i, i) ~= "{" then return nil end
  local found = {}
  i = i + 1
  while true do
    i = find(s, "%S", i)
    if i == nil then return nil end
    if sub(s, i, i) == "}" then return found end
    if sub(s, i, i) == "," then i = find(s, "%S", i + 1) end
    if i == nil or sub(s, i, i) ~= '"' then return nil end
    local key_end = string_end(s, i)
    local colon = key_end and find(s, "%S", key_end + 1)
    if colon == nil or sub(s, colon, colon) ~= ":" then return nil end
    local start = find(s, "%S", colon + 1)
    local stop = start and value_end(s, start)
    if stop == nil then return nil end
    local key = sub(s, i + 1, key_end - 1)
    if key == "model" or key == "stream" then found[key] = sub(s, start, stop) end
    i = stop + 1
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove(MODEL)
  headers:remove(STREAM)
  if headers:get(":method") ~= "POST" or sub(headers:get(":path") or "", 1, 4) ~= "/v1/" then return end
  local authority = string.gsub(string.lower(headers:get(":authority") or ""), ":%d+$", "")
  if authority ~= HOST then return end
  if (tonumber(headers:get("content-length") or "") or 0) > LIMIT then
    return reject(handle, 413, TOO_LARGE)
  end
  local body = handle:body()
  local size = body and body:length() or 0
  if size > LIMIT then return reject(handle, 413, TOO_LARGE) end
  local found = size > 0 and members(body:getBytes(0, size)) or nil
  if found == nil or found.model == nil or found.model == "null" then
    return reject(handle, 400, NO_MODEL)
  end
  local model = string.match(string.gsub(found.model, "\\/", "/"), '^"([A-Za-z0-9][A-Za-z0-9._:/-]*)"$')
  if model == nil or #model > 200 then
    return reject(handle, 404, UNKNOWN_MODEL)
  end
  headers = handle:headers() -- the handle taken before body() is stale once body() has yielded
  headers:add(MODEL, model)
  if found.stream == "true" then headers:add(STREAM, "true") end
  handle:clearRouteCache()
end
