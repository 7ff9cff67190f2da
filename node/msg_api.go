package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/yuinet/yui/api"
	"github.com/yuinet/yui/message"
	"github.com/yuinet/yui/storage/seal"
	"github.com/yuinet/yui/storage/store"
)

// msgSendWait bounds how long a send request waits for its message to be
// delivered, held or rejected before it returns it as pending.
const msgSendWait = 15 * time.Second

func (n *Node) msgRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+api.PathMsgSend, n.serveSendMessage)
	mux.HandleFunc("GET "+api.PathMsgInbox, n.serveInbox)
	mux.HandleFunc("GET "+api.PathMsgSent, n.serveSentMessages)
}

// msgsOrError returns the message service, or writes an error and
// returns nil while it is not running.
func (n *Node) msgsOrError(w http.ResponseWriter) *msgService {
	s := n.msgs.Load()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, errors.New("node: messages are not running yet; retry in a few seconds"))
	}
	return s
}

func (n *Node) serveSendMessage(w http.ResponseWriter, r *http.Request) {
	s := n.msgsOrError(w)
	if s == nil {
		return
	}
	var req api.SendMessageRequest
	if err := decodeJSONBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	to, ttl, err := checkSendRequest(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}

	it, err := s.send(req.User, to, []byte(req.Text), ttl, req.ToName)
	switch {
	case errors.Is(err, store.ErrUnknownUser):
		writeError(w, http.StatusNotFound, err)
		return
	case errors.Is(err, store.ErrInvalid), errors.Is(err, message.ErrInvalid), errors.Is(err, message.ErrTooLarge):
		writeError(w, http.StatusBadRequest, err)
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), msgSendWait)
	defer cancel()
	st, ok := s.waitSettled(ctx, it.Key())
	if !ok {
		st = message.Status{Item: it, State: message.StatePending}
	}
	writeJSON(w, http.StatusOK, s.apiSent(st))
}

// checkSendRequest checks the recipient keys and lifetime of a send.
func checkSendRequest(req api.SendMessageRequest) (seal.PublicKeys, time.Duration, error) {
	if req.User != "" {
		if err := api.ValidateUserName(req.User); err != nil {
			return seal.PublicKeys{}, 0, err
		}
	}
	if err := api.ValidateToName(req.ToName); err != nil {
		return seal.PublicKeys{}, 0, err
	}
	to, err := seal.ParsePublicKeys(req.To)
	if err != nil {
		return seal.PublicKeys{}, 0, fmt.Errorf("node: recipient keys: %w; pass the public_keys of 'yui user show'", err)
	}
	// Compared in seconds first, because a huge value overflows the
	// Duration and would pass.
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(message.MaxTTL/time.Second) {
		return seal.PublicKeys{}, 0, fmt.Errorf("node: ttl_seconds %d: want 0 for the default of %v, or up to %d",
			req.TTLSeconds, message.DefaultTTL, int64(message.MaxTTL/time.Second))
	}
	return to, time.Duration(req.TTLSeconds) * time.Second, nil
}

// checkListUser writes an error and returns false when a list request
// names a user that is not on this node, so that a misspelt user gets an
// error instead of an empty list. An empty name lists every user.
func (s *msgService) checkListUser(w http.ResponseWriter, user string) bool {
	if user == "" {
		return true
	}
	_, err := s.users.LoadUser(user)
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrUnknownUser):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	default:
		s.log.Error("loading a user for a message list failed", "user", user, "err", err)
		writeError(w, http.StatusInternalServerError, err)
	}
	return false
}

func (n *Node) serveInbox(w http.ResponseWriter, r *http.Request) {
	s := n.msgsOrError(w)
	if s == nil {
		return
	}
	user := r.URL.Query().Get("user")
	if !s.checkListUser(w, user) {
		return
	}
	list := []api.InboxMessage{}
	for _, it := range s.files.loadItems(msgInboxDir, s.log) {
		m, ok := s.apiInbox(it)
		if ok && (user == "" || m.User == user) {
			list = append(list, m)
		}
	}
	slices.SortFunc(list, func(a, b api.InboxMessage) int { return a.Created.Compare(b.Created) })
	writeJSON(w, http.StatusOK, list)
}

func (n *Node) serveSentMessages(w http.ResponseWriter, r *http.Request) {
	s := n.msgsOrError(w)
	if s == nil {
		return
	}
	user := r.URL.Query().Get("user")
	if !s.checkListUser(w, user) {
		return
	}
	list := []api.SentMessage{}
	for _, st := range s.files.loadStatuses(s.log) {
		if st.Item.Kind != message.KindMessage {
			continue
		}
		m := s.apiSent(st)
		if user == "" || m.From == user {
			list = append(list, m)
		}
	}
	slices.SortFunc(list, func(a, b api.SentMessage) int { return a.Created.Compare(b.Created) })
	writeJSON(w, http.StatusOK, list)
}

// apiInbox decrypts a received message for the API, or returns false
// when its recipient is no longer a local user.
func (s *msgService) apiInbox(it *message.Item) (api.InboxMessage, bool) {
	name := s.userName(it.To)
	if name == "" {
		return api.InboxMessage{}, false
	}
	u, err := s.userKeys(name)
	if err != nil {
		s.log.Warn("inbox message unreadable", "id", it.ID, "user", name, "err", err)
		return api.InboxMessage{}, false
	}
	text, err := it.Message.Open(u)
	if err != nil {
		s.log.Warn("inbox message does not decrypt", "id", it.ID, "user", name, "err", err)
		return api.InboxMessage{}, false
	}
	keys, err := it.Message.Sender.Marshal()
	if err != nil {
		return api.InboxMessage{}, false
	}
	return api.InboxMessage{
		ID:       it.ID.String(),
		User:     name,
		From:     message.Fingerprint(it.From),
		FromUser: s.userName(it.From),
		FromKeys: keys,
		Text:     string(text),
		Created:  it.Created,
		Expires:  it.Expires,
	}, true
}

func (s *msgService) apiSent(st message.Status) api.SentMessage {
	it := st.Item
	m := api.SentMessage{
		ID:         it.ID.String(),
		From:       s.userName(it.From),
		To:         message.Fingerprint(it.To),
		ToUser:     s.userName(it.To),
		ToName:     string(s.files.recipientName(it.ID)),
		Text:       string(s.files.text(it.ID)),
		Created:    it.Created,
		Expires:    it.Expires,
		State:      st.State.String(),
		Custodians: st.Custodians,
		Error:      st.Error,
	}
	if st.Receipt != nil {
		m.Receipt = &api.MsgReceipt{Delivered: st.Receipt.Receipt.Delivered, Signed: st.Receipt.Raw}
	}
	return m
}
