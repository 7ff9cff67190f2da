package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
)

func TestOneLine(t *testing.T) {
	if got := oneLine("two\nlines\t here"); got != "two lines here" {
		t.Errorf("oneLine joined to %q", got)
	}
	long := strings.Repeat("é", 100)
	got := oneLine(long)
	if n := len([]rune(got)); n != 60 {
		t.Errorf("oneLine cut %d runes to %d, want 60", 100, n)
	}
	if !strings.HasSuffix(got, "…") {
		t.Errorf("oneLine(%q…) = %q, want an ellipsis at the end", long[:10], got)
	}
}

func TestDescribeSent(t *testing.T) {
	tests := []struct {
		m    api.SentMessage
		want string
	}{
		{api.SentMessage{State: "delivered", Receipt: &api.MsgReceipt{Delivered: time.Now()}}, "delivered, receipt signed at"},
		{api.SentMessage{State: "held", Custodians: 3}, "held by 3 nodes"},
		{api.SentMessage{State: "rejected", Error: "limit 3 per sender"}, "rejected: limit 3 per sender"},
		{api.SentMessage{State: "pending"}, "pending"},
		{api.SentMessage{State: "expired"}, "expired"},
	}
	for _, tt := range tests {
		if got := describeSent(&tt.m); !strings.HasPrefix(got, tt.want) {
			t.Errorf("describeSent(%s) = %q, want it to start with %q", tt.m.State, got, tt.want)
		}
	}
}
