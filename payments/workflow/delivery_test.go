package workflow_test

import (
	"testing"
	"time"

	"github.com/ofii/allowances/payments/workflow"
)

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second},
		{6, 160 * time.Second}, {7, 5 * time.Minute}, {50, 5 * time.Minute},
	} {
		if got := workflow.RetryDelay(c.attempts); got != c.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", c.attempts, got, c.want)
		}
	}
}
