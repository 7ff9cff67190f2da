package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/internal/netns"
	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// msgLimit bounds each wait of the message tests: a restarted node must
// rejoin, announce its users and receive what custodians held for them.
const msgLimit = 30 * time.Second

// msgLab is three nodes on one loopback namespace: alice's node, bob's
// node and a third that can hold messages for either.
type msgLab struct {
	ns          *netns.Namespace
	alice, bob  *process
	third       *process
	bootstrap   string
	bobKeysFile string
	args        []string
}

func startMsgLab(t *testing.T, extra ...string) *msgLab {
	t.Helper()
	lab := &msgLab{ns: loopbackNS(t), args: append(append([]string{}, loopbackArgs...), extra...)}
	lab.alice = startNode(t, lab.ns, "msg-alice", lab.args...)
	lab.alice.waitStarted(t)
	s, err := lab.alice.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	lab.bootstrap = s.Listen
	lab.bob = startNode(t, lab.ns, "msg-bob", lab.bobArgs()...)
	lab.third = startNode(t, lab.ns, "msg-third", lab.bobArgs()...)
	lab.bob.waitStarted(t)
	lab.third.waitStarted(t)

	ctx, cancel := context.WithTimeout(context.Background(), msgLimit)
	defer cancel()
	if _, err := lab.bob.yui(ctx, "user", "create", "bob"); err != nil {
		t.Fatal(err)
	}
	keys, err := lab.bob.yui(ctx, "user", "show", "bob")
	if err != nil {
		t.Fatal(err)
	}
	lab.bobKeysFile = filepath.Join(t.TempDir(), "bob.keys")
	if err := os.WriteFile(lab.bobKeysFile, keys, 0o600); err != nil {
		t.Fatal(err)
	}
	lab.waitPeers(t, lab.alice, 2)
	return lab
}

func (lab *msgLab) bobArgs() []string {
	return append(append([]string{}, lab.args...), "--bootstrap", lab.bootstrap)
}

// waitPeers waits until p's routing table lists n peers.
func (lab *msgLab) waitPeers(t *testing.T, p *process, n int) {
	t.Helper()
	deadline := time.Now().Add(msgLimit)
	for time.Now().Before(deadline) {
		if ids, err := p.peerIDs(context.Background()); err == nil && len(ids) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not list %d peers in %v", p.name, n, msgLimit)
}

// send runs 'yui msg send' on alice's node to bob and returns the status
// it printed, or the command's standard error when it failed.
func (lab *msgLab) send(t *testing.T, text string) (*api.SentMessage, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), msgLimit)
	defer cancel()
	cmd := lab.ns.Command(ctx, yuiBin, "msg", "send", lab.bobKeysFile, text, "--json", "--data-dir", lab.alice.dataDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	var m api.SentMessage
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("decode %q (stderr %q): %v", out, stderr.String(), err)
	}
	return &m, stderr.String()
}

// inbox returns bob's messages on p.
func inbox(t *testing.T, p *process) []api.InboxMessage {
	t.Helper()
	out, err := p.yui(context.Background(), "msg", "inbox", "--user", "bob", "--json")
	if err != nil {
		return nil
	}
	var list []api.InboxMessage
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return list
}

func sentMessages(t *testing.T, p *process) []api.SentMessage {
	t.Helper()
	out, err := p.yui(context.Background(), "msg", "sent", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []api.SentMessage
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return list
}

// waitAnnounced waits until bob's node logged that it announces bob and
// a second has passed for the announcement to reach the custodians.
func waitAnnounced(t *testing.T, p *process) {
	t.Helper()
	deadline := time.Now().Add(msgLimit)
	for !announced(p.logText()) {
		if time.Now().After(deadline) {
			t.Fatal("bob's node never announced bob")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
}

func announced(log string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "announcing user for messages") && strings.Contains(line, "user=bob ") {
			return true
		}
	}
	return false
}

// TestMsgReachesRestartedNode sends a message to a user whose node is
// stopped: custodians hold it, the node gets it when it runs again, and
// the recipient's receipt comes back to the sender.
func TestMsgReachesRestartedNode(t *testing.T) {
	lab := startMsgLab(t)
	waitAnnounced(t, lab.bob)
	lab.bob.stop()

	m, stderr := lab.send(t, "the shelter opens at six")
	if stderr != "" {
		t.Fatalf("send failed: %s", stderr)
	}
	if m.State != "held" {
		t.Fatalf("message to a stopped node is %q (%s), want held", m.State, m.Error)
	}
	if m.Custodians == 0 {
		t.Error("held message names no custodians")
	}

	lab.bob = startNodeIn(t, lab.ns, "msg-bob-again", lab.bob.dataDir, lab.bobArgs()...)
	lab.bob.waitStarted(t)

	deadline := time.Now().Add(msgLimit)
	var got []api.InboxMessage
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		got = inbox(t, lab.bob)
	}
	if len(got) != 1 {
		t.Fatalf("bob's inbox has %d messages after the restart, want 1", len(got))
	}
	if got[0].Text != "the shelter opens at six" || got[0].ID != m.ID {
		t.Errorf("bob received %q (ID %s), want %q (ID %s)", got[0].Text, got[0].ID, "the shelter opens at six", m.ID)
	}

	var receipt *api.MsgReceipt
	var toName string
	for receipt == nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		for _, s := range sentMessages(t, lab.alice) {
			if s.ID == m.ID && s.Receipt != nil {
				receipt, toName = s.Receipt, s.ToName
			}
		}
	}
	if receipt == nil {
		t.Fatal("alice has no receipt for the message")
	}
	if toName != "bob" {
		t.Errorf("alice's sent message names its recipient %q, want bob, the name in the keys file", toName)
	}
	if _, err := message.Decode(receipt.Signed); err != nil {
		t.Errorf("receipt does not verify: %v", err)
	}
}

// TestMsgFloodPastQuotaRejected sends more messages to a stopped node than
// the custodians hold per sender: the ones past the quota fail with an
// error that names the limit.
func TestMsgFloodPastQuotaRejected(t *testing.T) {
	const perSender = 3
	lab := startMsgLab(t, "--msg-hold-per-sender", "3")
	waitAnnounced(t, lab.bob)
	lab.bob.stop()

	for i := range perSender {
		m, stderr := lab.send(t, "within quota")
		if stderr != "" || m.State != "held" {
			t.Fatalf("message %d: state %q, error %q; want held", i, m.State, stderr)
		}
	}
	m, stderr := lab.send(t, "past quota")
	if m.State != "rejected" {
		t.Fatalf("message past the quota is %q, want rejected", m.State)
	}
	if !strings.Contains(stderr, "limit 3 per sender") {
		t.Errorf("send printed %q, want an error that names the limit of 3 per sender", stderr)
	}
}

// TestMsgForgedDropped hands bob's node a message whose signature was
// altered, over QUIC from a peer with a valid node certificate. The node
// responds that it is forged and bob never sees it, while the same
// message unaltered is delivered.
func TestMsgForgedDropped(t *testing.T) {
	lab := startMsgLab(t)
	bobStatus, err := lab.bob.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bobNode := wire.Contact{ID: bobStatus.ID, Addr: netip.MustParseAddrPort(bobStatus.Listen)}
	waitAnnounced(t, lab.bob)

	keys := readBobKeys(t, lab.bobKeysFile)
	mallory, err := seal.NewUser()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	genuine, err := message.NewMessage(mallory, keys, message.ID{1}, []byte("genuine"), now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forgedItem, err := message.NewMessage(mallory, keys, message.ID{2}, []byte("forged"), now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte{}, forgedItem.Raw...)
	forged[len(forged)-1] ^= 1 // inside the signature

	peer := startPeer(t, lab.ns, "127.0.0.1:0", nil)
	resp, err := peer.request(bobNode, &wire.MsgDeliver{Items: [][]byte{forged, genuine.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	ack, ok := resp.(*wire.MsgAck)
	if !ok || len(ack.Results) != 2 {
		t.Fatalf("response %#v, want an ack with two results", resp)
	}
	if ack.Results[0].Code != wire.MsgForged {
		t.Errorf("forged message answered %d (%s), want MsgForged", ack.Results[0].Code, ack.Results[0].Text)
	}
	if ack.Results[1].Code != wire.MsgAccepted {
		t.Errorf("genuine message answered %d (%s), want MsgAccepted", ack.Results[1].Code, ack.Results[1].Text)
	}

	got := inbox(t, lab.bob)
	if len(got) != 1 || got[0].Text != "genuine" {
		t.Errorf("bob's inbox %+v, want only the genuine message", got)
	}
	if !strings.Contains(lab.bob.logText(), "message item rejected") {
		t.Error("bob's node did not log the forged message")
	}
}

func readBobKeys(t *testing.T, path string) seal.PublicKeys {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	keys, err := seal.ParsePublicKeys(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
