package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Paths of the message endpoints. POST to PathMsgSend sends a message
// from a local user; GET PathMsgInbox lists the messages local users
// received and GET PathMsgSent the messages they sent, with receipts.
// Both lists take an optional ?user=NAME.
const (
	PathMsgSend  = "/v1/msg/send"
	PathMsgInbox = "/v1/msg/inbox"
	PathMsgSent  = "/v1/msg/sent"
)

// SendMessageRequest is the request to send a message from one of its users.
type SendMessageRequest struct {
	// User is the sending local user; empty means "default".
	User string `json:"user,omitempty"`
	// To is the recipient's public keys, as User.PublicKeys shows them.
	To []byte `json:"to"`
	// Text is the message, at most 16 KiB.
	Text string `json:"text"`
	// TTLSeconds is how long the message may wait for its recipient; 0
	// means 7 days, and 30 days is the limit.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// ToName is the sender's name for the recipient, such as the Name
	// header of a keys file, at most MaxToName bytes. The node stores it
	// for SentMessage and does not send it with the message.
	ToName string `json:"to_name,omitempty"`
}

// MaxToName is the longest SendMessageRequest.ToName, in bytes.
const MaxToName = 64

// ValidateToName checks the recipient's name of a send: printable UTF-8
// text of at most MaxToName bytes.
func ValidateToName(name string) error {
	if len(name) > MaxToName {
		return fmt.Errorf("%w: to_name of %d bytes is too long; use at most %d", ErrInvalid, len(name), MaxToName)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return fmt.Errorf("%w: to_name %q is invalid; use printable UTF-8 text", ErrInvalid, name)
	}
	return nil
}

// SentMessage is a message a local user sent, with its delivery state.
type SentMessage struct {
	ID string `json:"id"`
	// From is the sending local user's name.
	From string `json:"from"`
	// To is the first 8 bytes of the recipient's signing key in hex, and
	// ToUser the recipient's name when it is a user of this node.
	To     string `json:"to"`
	ToUser string `json:"to_user,omitempty"`
	// ToName is the name the request gave the recipient, if any.
	ToName  string    `json:"to_name,omitempty"`
	Text    string    `json:"text,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// State is pending, held, delivered, rejected or expired.
	State string `json:"state"`
	// Custodians is how many nodes hold the message, while held.
	Custodians int `json:"custodians,omitempty"`
	// Error is the reason the message was rejected.
	Error string `json:"error,omitempty"`
	// Receipt is the recipient's signed receipt, once it came back.
	Receipt *MsgReceipt `json:"receipt,omitempty"`
}

// MsgReceipt is a recipient's signed statement that a message reached its
// node.
type MsgReceipt struct {
	Delivered time.Time `json:"delivered"`
	// Signed is the receipt's signed encoding.
	Signed []byte `json:"signed"`
}

// InboxMessage is a message a local user received, decrypted.
type InboxMessage struct {
	ID string `json:"id"`
	// User is the receiving local user's name.
	User string `json:"user"`
	// From is the first 8 bytes of the sender's signing key in hex, and
	// FromUser the sender's name when it is a user of this node.
	From     string `json:"from"`
	FromUser string `json:"from_user,omitempty"`
	// FromKeys is the sender's public keys, to reply with.
	FromKeys []byte    `json:"from_keys"`
	Text     string    `json:"text"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
}

// SendMessage sends a message and returns its status once it was
// delivered, held or rejected, or after the node's wait of a few seconds.
func (c *Client) SendMessage(ctx context.Context, req SendMessageRequest) (*SentMessage, error) {
	var m SentMessage
	return &m, c.do(ctx, http.MethodPost, PathMsgSend, req, &m)
}

// Inbox returns the messages the local user received, oldest first; an
// empty user means every local user.
func (c *Client) Inbox(ctx context.Context, user string) ([]InboxMessage, error) {
	var list []InboxMessage
	return list, c.do(ctx, http.MethodGet, withUser(PathMsgInbox, user), nil, &list)
}

// SentMessages returns the messages the local user sent, oldest first; an
// empty user means every local user.
func (c *Client) SentMessages(ctx context.Context, user string) ([]SentMessage, error) {
	var list []SentMessage
	return list, c.do(ctx, http.MethodGet, withUser(PathMsgSent, user), nil, &list)
}

func withUser(path, user string) string {
	if user == "" {
		return path
	}
	return path + "?user=" + url.QueryEscape(user)
}
