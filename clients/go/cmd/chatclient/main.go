// Command chatclient is a small proof that the generated Go stubs work: it dials the gateway's
// gRPC port, asks one chat completion (unary) and the same question as a stream, and prints a JSON
// summary.
//
//	go run ./cmd/chatclient -addr 127.0.0.1:50051 -model Llama-3.3-70B-Instruct "Say hello"
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	chatv1 "github.com/ainative/chat-gateway/clients/go/ainative/chat/v1"
)

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type summary struct {
	Unary struct {
		ID           string `json:"id"`
		Model        string `json:"model"`
		Provider     string `json:"provider"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
		Usage        usage  `json:"usage"`
	} `json:"unary"`
	Stream struct {
		Chunks          int    `json:"chunks"`
		Text            string `json:"text"`
		FinishReason    string `json:"finish_reason"`
		Usage           *usage `json:"usage"`
		TotalTokensUsed int64  `json:"total_tokens_used"`
	} `json:"stream"`
}

func toUsage(u *chatv1.Usage) usage {
	return usage{u.GetPromptTokens(), u.GetCompletionTokens(), u.GetTotalTokens()}
}

func text(m *chatv1.ChatMessage) string {
	var b strings.Builder
	for _, p := range m.GetContent() {
		b.WriteString(p.GetText())
	}
	return b.String()
}

func run(addr, model, prompt, token string, timeout time.Duration) (*summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	// grpc.WithInsecure: plaintext, as the gateway listens without TLS (grpc-go 1.33 has no
	// insecure.NewCredentials yet).
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	client := chatv1.NewChatServiceClient(conn)

	req := &chatv1.CreateChatCompletionRequest{
		Model: model,
		Messages: []*chatv1.ChatMessage{{
			Role:    chatv1.Role_ROLE_USER,
			Content: []*chatv1.ContentPart{{Part: &chatv1.ContentPart_Text{Text: prompt}}},
		}},
	}
	var out summary

	resp, err := client.CreateChatCompletion(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("CreateChatCompletion: %w", err)
	}
	c := resp.GetCompletion()
	out.Unary.ID, out.Unary.Model, out.Unary.Provider = c.GetId(), c.GetModel(), c.GetProvider()
	if len(c.GetChoices()) > 0 {
		out.Unary.Text = text(c.GetChoices()[0].GetMessage())
		out.Unary.FinishReason = c.GetChoices()[0].GetFinishReason().String()
	}
	out.Unary.Usage = toUsage(c.GetUsage())

	stream, err := client.StreamChatCompletion(ctx, &chatv1.StreamChatCompletionRequest{Request: req, IncludeUsage: true})
	if err != nil {
		return nil, fmt.Errorf("StreamChatCompletion: %w", err)
	}
	var b strings.Builder
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("StreamChatCompletion: %w", err)
		}
		chunk := r.GetChunk()
		out.Stream.Chunks++
		for _, choice := range chunk.GetChoices() {
			b.WriteString(choice.GetDelta().GetContent())
			if choice.GetFinishReason() != chatv1.FinishReason_FINISH_REASON_UNSPECIFIED {
				out.Stream.FinishReason = choice.GetFinishReason().String()
			}
		}
		if chunk.GetUsage() != nil {
			u := toUsage(chunk.GetUsage())
			out.Stream.Usage = &u
			out.Stream.TotalTokensUsed = chunk.GetTotalTokensUsed()
		}
	}
	out.Stream.Text = b.String()
	return &out, nil
}

func main() {
	addr := flag.String("addr", envOr("GATEWAY_GRPC_ADDR", "127.0.0.1:50051"), "the gateway's gRPC address (host:port)")
	model := flag.String("model", "Llama-3.3-70B-Instruct", "model id")
	token := flag.String("token", os.Getenv("GATEWAY_TOKEN"), "optional JWT sent as authorization: Bearer")
	timeout := flag.Duration("timeout", 30*time.Second, "deadline for the whole run")
	flag.Parse()
	prompt := "Say hello."
	if flag.NArg() > 0 {
		prompt = strings.Join(flag.Args(), " ")
	}
	out, err := run(*addr, *model, prompt, *token, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatclient:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "chatclient:", err)
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
