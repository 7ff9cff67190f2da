package quicnet

import (
	"errors"
	"fmt"
	"testing"

	"github.com/quic-go/quic-go"
)

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"stream never opened", fmt.Errorf("%w: %w", errConnGone, &quic.StatelessResetError{}), true},
		{"peer closed idle connection", &quic.ApplicationError{Remote: true, ErrorCode: codeIdle}, true},
		{"idle close before stream opened", fmt.Errorf("%w: %w", errConnGone, &quic.ApplicationError{Remote: true, ErrorCode: codeIdle}), true},
		{"peer refused stream", &quic.StreamError{Remote: true, ErrorCode: streamRefused}, true},
		{"peer reset connection mid-request", &quic.StatelessResetError{}, true},
		{"peer overloaded", fmt.Errorf("%w: %w", errConnGone, &quic.ApplicationError{Remote: true, ErrorCode: codeOverloaded}), false},
		{"peer shutting down mid-request", &quic.ApplicationError{Remote: true, ErrorCode: codeShutdown}, false},
		{"peer rejected request", &quic.StreamError{Remote: true, ErrorCode: streamRejected}, false},
		{"local idle close", &quic.ApplicationError{ErrorCode: codeIdle}, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
