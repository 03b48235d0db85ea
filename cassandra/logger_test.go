package cassandra

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoggerRateLimitsEachKind(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewJSONHandler(&buf, nil)), LogOptions{Level: slog.LevelWarn, Burst: 2, Every: time.Hour})
	for i := range 100 {
		l.Printf("gocql: unable to dial control conn %v: %v", "127.0.0.2:9042", i)
	}
	l.Printf("gocql: another kind %d", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines logged for 100 messages of one kind and 1 of another, want 3 (burst of 2, then the other kind):\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["level"] != "WARN" || first["component"] != "gocql" || !strings.HasPrefix(first["msg"].(string), "unable to dial control conn") {
		t.Errorf("first line = %v", first)
	}
}

func TestLoggerReportsSuppressed(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewJSONHandler(&buf, nil)), LogOptions{Level: slog.LevelWarn, Burst: 1, Every: time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range 51 {
		l.Printf("down %d", i)
	}
	now = now.Add(time.Second)
	l.Printf("down %d", 99)
	if !strings.Contains(buf.String(), `"suppressed":50`) {
		t.Fatalf("no suppressed count reported:\n%s", buf.String())
	}
}

func TestLoggerHonoursLevel(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), LogOptions{Level: slog.LevelWarn})
	l.Println("reconnecting")
	if buf.Len() != 0 {
		t.Fatalf("logged below the handler's level: %s", buf.String())
	}
}
