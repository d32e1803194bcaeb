package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/centralhub/centralhub/hub/internal/membership"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/gossip"
)

// Members lists the gossip members a caller may see.
type Members interface {
	Members(visible registry.Visibility, allTenants bool) []membership.Member
}

// Keyring rotates the gossip encryption key across the cluster.
type Keyring interface {
	ListKeys() (gossip.KeyReport, error)
	InstallKey(key string) (gossip.KeyReport, error)
	UseKey(key string) (gossip.KeyReport, error)
	RemoveKey(key string) (gossip.KeyReport, error)
}

var errGossipOff = &Error{Status: http.StatusConflict, Message: "gossip is not enabled on this hub (start it with --gossip-bind)"}

type membersBody struct {
	Enabled bool                `json:"enabled"`
	Members []membership.Member `json:"members"`
}

func (s *Server) dashboardMembers(w http.ResponseWriter, r *http.Request) error {
	body := membersBody{Members: []membership.Member{}}
	if s.cfg.Members != nil {
		visible, scope := visibility(r)
		body.Enabled, body.Members = true, s.cfg.Members.Members(visible, scope == auth.AllTenants)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// keyView shows a key by its fingerprint: the API never returns key material.
type keyView struct {
	Fingerprint string `json:"fingerprint"`
	Members     int    `json:"members"` // members holding it
	Primary     int    `json:"primary"` // members encrypting with it
}

type keysBody struct {
	Action      string            `json:"action,omitempty"`
	Fingerprint string            `json:"fingerprint,omitempty"` // the key acted on
	Keys        []keyView         `json:"keys,omitempty"`
	Members     int               `json:"members"`   // members in the cluster when asked
	Responses   int               `json:"responses"` // members that answered
	Errors      map[string]string `json:"errors,omitempty"`
}

// keysFailed is a keyring operation some member refused: 409 with the members' reasons.
type keysFailed struct {
	Error  string            `json:"error"`
	Errors map[string]string `json:"errors,omitempty"`
}

func (s *Server) listGossipKeys(w http.ResponseWriter, _ *http.Request) error {
	if s.cfg.Keyring == nil {
		return errGossipOff
	}
	rep, err := s.cfg.Keyring.ListKeys()
	body := keysBody{Members: rep.Members, Responses: rep.Responses, Errors: rep.Errors, Keys: []keyView{}}
	for _, k := range rep.Keys {
		body.Keys = append(body.Keys, keyView{Fingerprint: gossip.Fingerprint(k.Key), Members: k.Members, Primary: k.Primary})
	}
	if err != nil {
		writeJSON(w, http.StatusConflict, keysFailed{Error: err.Error(), Errors: rep.Errors})
		return nil
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// changeGossipKey installs (POST), uses (PUT) or removes (DELETE) the key in the JSON body
// {"key": "<base64>"} across the cluster.
func (s *Server) changeGossipKey(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Keyring == nil {
		return errGossipOff
	}
	var req struct {
		Key string `json:"key"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("body: want {\"key\": \"<base64 of 32 bytes>\"}: %v", err)
	}
	if _, err := gossip.ParseKey(req.Key); err != nil {
		return badRequest("key: %v", err)
	}
	action, op := "install", s.cfg.Keyring.InstallKey
	switch r.Method {
	case http.MethodPut:
		action, op = "use", s.cfg.Keyring.UseKey
	case http.MethodDelete:
		action, op = "remove", s.cfg.Keyring.RemoveKey
	}
	fp := gossip.Fingerprint(req.Key)
	rep, err := op(req.Key)
	log := s.log.With("action", action, "fingerprint", fp, "by", claimsFrom(r.Context()).Subject)
	if err != nil {
		if errors.Is(err, gossip.ErrBadKey) {
			return badRequest("key: %v", err)
		}
		log.Warn("gossip key change refused", "err", err, "members", rep.Members, "responses", rep.Responses)
		writeJSON(w, http.StatusConflict, keysFailed{Error: action + " key " + fp + ": " + err.Error(), Errors: rep.Errors})
		return nil
	}
	log.Info("gossip key changed", "members", rep.Members, "responses", rep.Responses)
	writeJSON(w, http.StatusOK, keysBody{Action: action, Fingerprint: fp, Members: rep.Members, Responses: rep.Responses, Errors: rep.Errors})
	return nil
}

// requireAllTenants refuses a token of one tenant: the admin routes (the gossip keyring, the
// store's backup) are cluster-wide.
func (s *Server) requireAllTenants(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := claimsFrom(r.Context()); c.Tenant != auth.AllTenants {
			s.metrics.authFailures.WithLabelValues("forbidden").Inc()
			s.writeError(w, r, forbidden("admin routes act on the whole cluster: they need an admin token of every tenant (*)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
