-- wrk script: every request is a distinct notification, and the summary is printed as JSON.
--
--   wrk -t1 -c64 -d10s -s notifications.lua URL -- TEMPLATES GROUP NONCE TOKEN
--
-- TEMPLATES is a file with one JSON body per line in which the 20-character marker UUUU... is the
-- notification uuid and the 32-character marker SSSS... the session id (bench/payloads.py writes
-- it). Request i of a thread uses line i % T and session i // GROUP, so uuids are unique per
-- request and session ids per GROUP requests; NONCE (0-9999) keeps runs apart. The bodies have
-- the same length as the ones bench/loadgen/paced.c sends.

local UUID_MARK = string.rep("U", 20)
local SESSION_MARK = string.rep("S", 32)

local threads = {}
local counter = 1

function setup(thread)
   thread:set("thread_number", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local UUID, SESSION = {}, {}   -- marker sentinels in the split templates
local pieces = {}   -- per template: list of literal strings and marker sentinels
local group = 1
local nonce = 0
local sent = 0
local headers = {}

local function split(template)
   local parts = {}
   local position = 1
   while true do
      local u = string.find(template, UUID_MARK, position, true)
      local s = string.find(template, SESSION_MARK, position, true)
      local nearest, kind, width
      if u and (not s or u < s) then
         nearest, kind, width = u, UUID, 20
      elseif s then
         nearest, kind, width = s, SESSION, 32
      end
      if not nearest then
         table.insert(parts, string.sub(template, position))
         return parts
      end
      table.insert(parts, string.sub(template, position, nearest - 1))
      table.insert(parts, kind)
      position = nearest + width
   end
end

function init(args)
   local path = args[1]
   group = tonumber(args[2] or "1")
   nonce = tonumber(args[3] or "0") % 10000
   local token = args[4] or "bench-verification-token"
   local file = assert(io.open(path, "rb"))
   for line in file:lines() do
      if #line > 0 then
         table.insert(pieces, split(line))
      end
   end
   file:close()
   headers["Content-Type"] = "application/json"
   headers["Verification-Token"] = token
end

function request()
   local template = pieces[(sent % #pieces) + 1]
   -- thread number (2 digits) keeps the threads' counters apart
   local uuid = string.format("%04d%02d%014d", nonce, thread_number, sent)
   local session = string.format("%08d%02d%022d", nonce, thread_number, math.floor(sent / group))
   sent = sent + 1
   local out = {}
   for i, part in ipairs(template) do
      if part == UUID then
         out[i] = uuid
      elseif part == SESSION then
         out[i] = session
      else
         out[i] = part
      end
   end
   return wrk.format("POST", nil, headers, table.concat(out))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, ' ..
      '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, ' ..
      '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
end
