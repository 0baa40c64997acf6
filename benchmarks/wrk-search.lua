-- wrk script: POST /api/search with text queries taken in turn from a fixed list.
local queries = {"a red apple", "flag of Greece", "smiling face with heart eyes", "a dog", "woman with blond hair",
                 "sunset over the sea", "a green triangle", "σημαία της Ελλάδας", "a blue car", "fire", "a cat face",
                 "keycap number sign", "man running", "a house with a garden", "musical note", "snowflake"}
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"text": "%s", "k": 20}', queries[(n % #queries) + 1])
  return wrk.format("POST", "/api/search", {["Content-Type"] = "application/json"}, body)
end
