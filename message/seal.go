package message

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/yuinet/yui/network/wire"
	"github.com/yuinet/yui/storage/seal"
)

// NewMessage encrypts text to recipient and signs the message as sender.
// The caller picks id at random; created and expires bound its life.
func NewMessage(sender *seal.User, recipient seal.PublicKeys, id ID, text []byte, created, expires time.Time) (*Item, error) {
	if len(text) > MaxText {
		return nil, fmt.Errorf("%w: text is %d bytes, limit %d; split it into several messages",
			ErrTooLarge, len(text), MaxText)
	}
	if err := recipient.Validate(); err != nil {
		return nil, fmt.Errorf("%w: recipient keys: %v", ErrInvalid, err)
	}
	h := messageHeader{
		ID:        id,
		Sender:    sender.Public(),
		Recipient: recipient,
		Created:   millis(created),
		Expires:   millis(expires),
	}
	if err := checkLifetime(h.Created, h.Expires); err != nil {
		return nil, err
	}
	info, err := marshal("message header", h)
	if err != nil {
		return nil, err
	}
	ct, err := seal.SealTo(recipient, info, text)
	if err != nil {
		return nil, err
	}
	raw, err := signItem(sender, KindMessage, messageBody{Header: h, Ciphertext: ct})
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

// Open decrypts the message's text with the recipient's keys.
func (m *Message) Open(recipient *seal.User) ([]byte, error) {
	info, err := marshal("message header", m.header)
	if err != nil {
		return nil, err
	}
	return recipient.Open(info, m.Ciphertext)
}

func decodeMessage(s signedItem) (*Item, error) {
	var b messageBody
	if err := unmarshal("message", s.Body, wire.MaxMsgItemSize, &b); err != nil {
		return nil, err
	}
	h := b.Header
	if err := h.Sender.Validate(); err != nil {
		return nil, fmt.Errorf("%w: sender keys: %v", ErrInvalid, err)
	}
	if err := h.Recipient.Validate(); err != nil {
		return nil, fmt.Errorf("%w: recipient keys: %v", ErrInvalid, err)
	}
	if err := checkLifetime(h.Created, h.Expires); err != nil {
		return nil, err
	}
	return &Item{
		Kind:    KindMessage,
		ID:      h.ID,
		From:    h.Sender.Signing,
		To:      h.Recipient.Signing,
		Created: fromMillis(h.Created),
		Expires: fromMillis(h.Expires),
		Message: &Message{Sender: h.Sender, Recipient: h.Recipient, Ciphertext: b.Ciphertext, header: h},
	}, nil
}

// NewReceipt signs, as the message's recipient, that msg reached the
// recipient's node at delivered.
func NewReceipt(recipient *seal.User, msg *Item, delivered time.Time) (*Item, error) {
	if msg.Kind != KindMessage {
		return nil, fmt.Errorf("%w: a receipt is for a message, not a %s", ErrInvalid, msg.Kind)
	}
	b := receiptBody{
		ID:        msg.ID,
		Sender:    msg.From,
		Recipient: recipient.SigningKey(),
		Delivered: millis(delivered),
		Expires:   millis(delivered.Add(receiptTTL)),
	}
	raw, err := signItem(recipient, KindReceipt, b)
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

func decodeReceipt(s signedItem) (*Item, error) {
	var b receiptBody
	if err := unmarshal("receipt", s.Body, wire.MaxMsgItemSize, &b); err != nil {
		return nil, err
	}
	if !validKey(b.Sender) || !validKey(b.Recipient) {
		return nil, fmt.Errorf("%w: receipt keys are %d and %d bytes, want %d",
			ErrInvalid, len(b.Sender), len(b.Recipient), ed25519.PublicKeySize)
	}
	if err := checkLifetime(b.Delivered, b.Expires); err != nil {
		return nil, err
	}
	return &Item{
		Kind:    KindReceipt,
		ID:      b.ID,
		From:    b.Recipient,
		To:      b.Sender,
		Created: fromMillis(b.Delivered),
		Expires: fromMillis(b.Expires),
		Receipt: &Receipt{Sender: b.Sender, Recipient: b.Recipient, Delivered: fromMillis(b.Delivered)},
	}, nil
}
