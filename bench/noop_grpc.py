"""A do-nothing ChatService: answers CreateChatCompletion with a canned completion of the
size the gateway returns, so a gRPC client's own cost can be subtracted from the gateway's."""

from __future__ import annotations

import asyncio
import sys

import grpc
from ainative.chat.v1 import chat_pb2 as pb
from ainative.chat.v1 import chat_pb2_grpc

CANNED = pb.CreateChatCompletionResponse(completion=pb.ChatCompletion(
    id="chatcmpl-" + "0" * 32, created=1764000000, model="Llama-3.3-70B-Instruct", provider="meta_llama",
    choices=[pb.Choice(index=0, finish_reason=pb.FINISH_REASON_STOP, message=pb.ChatMessage(
        role=pb.ROLE_ASSISTANT, content=[pb.ContentPart(text="Hello from the Llama-3.3-70B-Instruct emulator. "
                                                             "You said: Hello! What is 2+2?")]))],
    usage=pb.Usage(prompt_tokens=4, completion_tokens=11, total_tokens=15), iterations=1, total_tokens_used=15))


class Noop(chat_pb2_grpc.ChatServiceServicer):
    async def CreateChatCompletion(self, request, context):  # type: ignore[no-untyped-def]
        return CANNED


async def main(port: int) -> None:
    server = grpc.aio.server()
    chat_pb2_grpc.add_ChatServiceServicer_to_server(Noop(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"NOOP_GRPC=127.0.0.1:{bound}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
