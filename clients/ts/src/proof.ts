// Proof that the generated TypeScript stubs (ts-proto, outputServices=grpc-js) talk to the
// gateway: one unary CreateChatCompletion, one server-streaming StreamChatCompletion (with the
// final usage chunk) and ListModels, summarized as one JSON document on stdout.
//
//   npm run build
//   node dist/proof.js [HOST:PORT] [--model ID] [--prompt TEXT] [--timeout-ms N]
//
// HOST:PORT defaults to $GATEWAY_GRPC_ADDR, then 127.0.0.1:50051. $GATEWAY_TOKEN, when set, is sent
// as "authorization: Bearer <token>". Exits 1 (with the gRPC status on stderr) on any failed call.
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";

import {
  type ChatCompletion,
  ChatServiceClient,
  CreateChatCompletionRequest,
  FinishReason,
  finishReasonToJSON,
  type ListModelsResponse,
  Role,
  roleToJSON,
  type StreamChatCompletionResponse,
  type Usage,
} from "./gen/ainative/chat/v1/chat";

interface Options {
  target: string;
  model: string;
  prompt: string;
  timeoutMs: number;
  token: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    target: process.env.GATEWAY_GRPC_ADDR || "127.0.0.1:50051",
    model: "Llama-3.3-70B-Instruct",
    prompt: "Say hello.",
    timeoutMs: 30_000,
    token: process.env.GATEWAY_TOKEN || undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--model") opts.model = value();
    else if (arg === "--prompt") opts.prompt = value();
    else if (arg === "--timeout-ms") opts.timeoutMs = Number(value());
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else opts.target = arg;
  }
  return opts;
}

function usageJson(u: Usage | undefined) {
  return u === undefined
    ? null
    : { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
}

function metadataFor(opts: Options, requestId: string): Metadata {
  const md = new Metadata();
  md.set("x-request-id", requestId);
  if (opts.token) md.set("authorization", `Bearer ${opts.token}`);
  return md;
}

function deadline(opts: Options): Date {
  return new Date(Date.now() + opts.timeoutMs);
}

/** The unary call, with the response's x-request-id header. */
function createCompletion(
  client: ChatServiceClient,
  opts: Options,
  request: CreateChatCompletionRequest,
): Promise<{ completion: ChatCompletion | undefined; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    let requestId: string | undefined;
    const call = client.createChatCompletion(
      request,
      metadataFor(opts, "ts-proof-unary"),
      { deadline: deadline(opts) },
      (err: ServiceError | null, response) => {
        if (err) reject(err);
        else resolve({ completion: response.completion, requestId });
      },
    );
    call.on("metadata", (md: Metadata) => {
      requestId = md.get("x-request-id")[0]?.toString();
    });
  });
}

/** The streaming call: every chunk, in order. */
function streamCompletion(
  client: ChatServiceClient,
  opts: Options,
  request: CreateChatCompletionRequest,
): Promise<StreamChatCompletionResponse[]> {
  return new Promise((resolve, reject) => {
    const chunks: StreamChatCompletionResponse[] = [];
    const call = client.streamChatCompletion(
      { request, includeUsage: true },
      metadataFor(opts, "ts-proof-stream"),
      { deadline: deadline(opts) },
    );
    call.on("data", (r: StreamChatCompletionResponse) => chunks.push(r));
    call.on("error", reject);
    call.on("end", () => resolve(chunks));
  });
}

function listModels(client: ChatServiceClient, opts: Options): Promise<ListModelsResponse> {
  return new Promise((resolve, reject) => {
    client.listModels({ provider: "" }, metadataFor(opts, "ts-proof-models"), { deadline: deadline(opts) },
      (err: ServiceError | null, response) => (err ? reject(err) : resolve(response)));
  });
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const client = new ChatServiceClient(opts.target, credentials.createInsecure());
  try {
    // fromPartial fills every field left out with its proto3 default.
    const request = CreateChatCompletionRequest.fromPartial({
      model: opts.model,
      messages: [{ role: Role.ROLE_USER, content: [{ text: opts.prompt }] }],
      metadata: { client: "ts-proof" },
    });

    const unary = await createCompletion(client, opts, request);
    const c = unary.completion;
    const choice = c?.choices[0];

    const chunks = (await streamCompletion(client, opts, request)).map((r) => r.chunk);
    const pieces: string[] = [];
    const finishReasons: string[] = [];
    let role: string | undefined;
    for (const chunk of chunks) {
      for (const ch of chunk?.choices ?? []) {
        if (ch.delta?.role) role ??= ch.delta.role;
        if (ch.delta?.content !== undefined) pieces.push(ch.delta.content);
        if (ch.finishReason !== FinishReason.FINISH_REASON_UNSPECIFIED) {
          finishReasons.push(finishReasonToJSON(ch.finishReason));
        }
      }
    }
    const usageChunk = chunks.find((chunk) => chunk?.usage !== undefined);

    const models = await listModels(client, opts);

    const summary = {
      target: opts.target,
      unary: {
        id: c?.id ?? null,
        model: c?.model ?? null,
        provider: c?.provider ?? null,
        text: (choice?.message?.content ?? []).map((p) => p.text ?? "").join(""),
        role: choice?.message ? roleToJSON(choice.message.role) : null,
        finish_reason: choice ? finishReasonToJSON(choice.finishReason) : null,
        usage: usageJson(c?.usage),
        iterations: c?.iterations ?? null,
        total_tokens_used: c?.totalTokensUsed ?? null,
        request_id: unary.requestId ?? null,
      },
      stream: {
        chunks: chunks.length,
        ids: [...new Set(chunks.map((chunk) => chunk?.id))],
        role: role ?? null,
        pieces,
        text: pieces.join(""),
        finish_reasons: finishReasons,
        usage: usageJson(usageChunk?.usage),
        usage_chunk_has_choices: usageChunk ? usageChunk.choices.length > 0 : null,
        iterations: usageChunk?.iterations ?? null,
        total_tokens_used: usageChunk?.totalTokensUsed ?? null,
      },
      models: {
        count: models.models.length,
        ids: models.models.map((m) => m.id),
      },
    };
    process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  const e = err as Partial<ServiceError> & Error;
  process.stderr.write(`proof: ${e.code !== undefined ? `gRPC status ${e.code}: ${e.details}` : e.stack ?? e}\n`);
  process.exitCode = 1;
});
