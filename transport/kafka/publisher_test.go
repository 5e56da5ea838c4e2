package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestPublishKeysByBeneficiary(t *testing.T) {
	b := startBroker(t)
	lines := strings.Join([]string{
		string(event(1, "OFII-2026-000123")),
		"",
		string(event(2, "OFII-2026-000456")),
		string(event(3, "OFII-2026-000123")),
		`{"event_id":"0b5a0d8e-6f5c-4d44-9b0e-1f3b2c6a7d10","beneficiary_id":42}`,
		`not json at all`,
		string(event(4, "OFII-2026-000123")),
	}, "\n") + "\n"
	var calls []int
	n, err := Publish(context.Background(), PublishConfig{Brokers: []string{b.Addr()}, BatchSize: 2}, testTopic,
		strings.NewReader(lines), func(n int) { calls = append(calls, n) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 || len(calls) != 3 || calls[len(calls)-1] != 6 {
		t.Fatalf("sent %d, progress %v", n, calls)
	}
	got := readTopic(t, b.Addr(), testTopic, n)
	partitionOf := map[string]int{}
	keyless := 0
	for _, m := range got {
		if len(m.Key) == 0 {
			keyless++
			if !strings.Contains(string(m.Value), "42") && string(m.Value) != "not json at all" {
				t.Errorf("record %q sent without a key", m.Value)
			}
			continue
		}
		if want := string(KeyOf(m.Value)); string(m.Key) != want || !strings.Contains(string(m.Value), want) {
			t.Errorf("record %q keyed %q", m.Value, m.Key)
		}
		if p, ok := partitionOf[string(m.Key)]; ok && p != m.Partition {
			t.Errorf("%s on partitions %d and %d", m.Key, p, m.Partition)
		}
		partitionOf[string(m.Key)] = m.Partition
	}
	if keyless != 2 || len(partitionOf) != 2 {
		t.Fatalf("%d records without key, keys %v", keyless, partitionOf)
	}
}

func TestKeyOf(t *testing.T) {
	for in, want := range map[string]string{
		`{"beneficiary_id":"OFII-1","type":"x"}`: "OFII-1",
		`{"beneficiary_id":""}`:                  "",
		`{"beneficiary_id":7}`:                   "",
		`{"type":"ada.resumed"}`:                 "",
		`[1,2]`:                                  "",
		`{"beneficiary_id":"OFII-1"`:             "",
	} {
		if got := string(KeyOf([]byte(in))); got != want {
			t.Errorf("KeyOf(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestReadRate(t *testing.T) {
	b := startBroker(t)
	produce(t, b.Addr(), 0, 500, 37)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := ReadRate(ctx, []string{b.Addr()}, testTopic, 500)
	if err != nil || d <= 0 {
		t.Fatalf("ReadRate = %v, %v", d, err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if _, err := ReadRate(short, []string{b.Addr()}, testTopic, 501); err == nil {
		t.Fatal("ReadRate of more records than the topic holds did not fail")
	}
}

func TestEmbeddedBrokerCreatesTopics(t *testing.T) {
	b, err := StartEmbedded(0, 3, "a.v1", "a.v1.dlq")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, topic := range []string{"a.v1", "a.v1.dlq"} {
		parts, err := kafka.DefaultDialer.LookupPartitions(ctx, "tcp", b.Addr(), topic)
		if err != nil || len(parts) != 3 {
			t.Fatalf("%s: %d partitions, %v", topic, len(parts), err)
		}
	}
	if _, err := StartEmbedded(0, 0, "x"); err == nil {
		t.Fatal("0 partitions accepted")
	}
}
