const AGENT_SOCKET_NAME = "agent.sock";
const AGENT_ERROR_FILE_NAME = "agent.error";
const AGENT_IO_DIR = "/run/warmbox/io";
const runRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["code", "dataJson", "stdin", "timeoutMs", "cpuTimeMs", "maxOutputBytes", "rlimits"],
  properties: {
    code: { type: "string" },
    dataJson: { type: "string" },
    stdin: { type: "string" },
    timeoutMs: { type: "integer", minimum: 1 },
    cpuTimeMs: { type: "integer", minimum: 1 },
    maxOutputBytes: { type: "integer", minimum: 0 },
    rlimits: {
      type: "object",
      additionalProperties: false,
      required: ["fileSizeBytes", "openFiles", "stackBytes"],
      properties: {
        fileSizeBytes: { type: "integer", minimum: 0 },
        openFiles: { type: "integer", minimum: 8 },
        stackBytes: { type: "integer", minimum: 65536 }
      }
    }
  }
};
const pythonErrorSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type", "message", "traceback"],
  properties: {
    type: { type: "string" },
    message: { type: "string" },
    traceback: { type: "string" }
  }
};
const runResponseSchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "status",
    "stdout",
    "stderr",
    "resultJson",
    "exitCode",
    "signal",
    "timedOut",
    "cpuTimeExceeded",
    "memoryExceeded",
    "outputTruncated",
    "error",
    "durationMs"
  ],
  properties: {
    status: { type: "string", enum: ["ok", "error", "timeout", "memory"] },
    stdout: { type: "string" },
    stderr: { type: "string" },
    resultJson: { type: "string" },
    exitCode: { type: ["integer", "null"] },
    signal: { type: ["string", "null"] },
    timedOut: { type: "boolean" },
    cpuTimeExceeded: { type: "boolean" },
    memoryExceeded: { type: "boolean" },
    outputTruncated: { type: "boolean" },
    error: { anyOf: [{ type: "null" }, pythonErrorSchema] },
    durationMs: { type: "number" }
  }
};
const errorBodySchema = {
  type: "object",
  required: ["statusCode", "code", "error", "message"],
  properties: {
    statusCode: { type: "integer" },
    code: { type: "string" },
    error: { type: "string" },
    message: { type: "string" }
  }
};
export {
  AGENT_ERROR_FILE_NAME,
  AGENT_IO_DIR,
  AGENT_SOCKET_NAME,
  errorBodySchema,
  runRequestSchema,
  runResponseSchema
};
