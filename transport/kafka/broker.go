package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is an in-process Kafka broker (franz-go's kfake) on the loopback
// interface: the default when no brokers are configured, and the broker of
// the tests. It keeps everything in memory: topics, records and committed
// offsets are gone when it closes.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// StartEmbedded starts a one-node broker on 127.0.0.1:port (0 picks a free
// port) with the topics created, each with the given number of partitions.
func StartEmbedded(port int, partitions int, topics ...string) (*Broker, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker: port %d out of range", port)
	}
	if partitions < 1 {
		return nil, fmt.Errorf("embedded broker: %d partitions: want at least 1", partitions)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ClusterID("ofii-allowances-embedded"),
		kfake.DefaultNumPartitions(partitions),
		kfake.SeedTopics(int32(partitions), topics...),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded broker on 127.0.0.1:%d: %w", port, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, errors.New("embedded broker: not listening")
	}
	return &Broker{c: c, addr: addrs[0]}, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker.
func (b *Broker) Close() { b.c.Close() }
