// Package auth checks API tokens and their roles. Tokens come from the
// API_TOKENS setting or from the database, where only their SHA-256 hash is
// stored (managed with `ethox token`). It knows nothing about HTTP or GraphQL.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ethox/ethox/apperr"
	"github.com/ethox/ethox/ent"
	"github.com/ethox/ethox/ent/apitoken"
)

// Role orders what a token may do; a higher role may do all a lower one may.
type Role int

const (
	None Role = iota // no token needed
	Reader
	Writer
	Admin
)

// ParseRole reads "reader", "writer" or "admin".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "reader":
		return Reader, nil
	case "writer":
		return Writer, nil
	case "admin":
		return Admin, nil
	}
	return None, fmt.Errorf("role %q: want reader, writer or admin", s)
}

func (r Role) String() string {
	switch r {
	case Reader:
		return "reader"
	case Writer:
		return "writer"
	case Admin:
		return "admin"
	}
	return "none"
}

// Principal is who presented a valid token.
type Principal struct {
	Name   string
	Role   Role
	Source string // "env" or "database"
}

// MinTokenLength keeps guessable tokens out of API_TOKENS.
const MinTokenLength = 16

// StaticToken is one API_TOKENS entry; the token itself is kept only as a hash.
type StaticToken struct {
	Name string
	Role Role
	hash [sha256.Size]byte
}

// ParseTokens reads API_TOKENS: comma-separated name:role:token entries.
// Errors name the entry, never the token.
func ParseTokens(spec string) ([]StaticToken, error) {
	var out []StaticToken
	seen := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := strings.SplitN(entry, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("API_TOKENS entry %d: want name:role:token", i+1)
		}
		name, token := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[2])
		if name == "" {
			return nil, fmt.Errorf("API_TOKENS entry %d: empty name", i+1)
		}
		role, err := ParseRole(parts[1])
		if err != nil {
			// Not quoting the value: in a mis-ordered entry it is the secret.
			return nil, fmt.Errorf("API_TOKENS entry %q: role must be reader, writer or admin (name:role:token)", name)
		}
		if len(token) < MinTokenLength {
			return nil, fmt.Errorf("API_TOKENS entry %q: token shorter than %d characters", name, MinTokenLength)
		}
		if seen[name] {
			return nil, fmt.Errorf("API_TOKENS entry %q: name used twice", name)
		}
		seen[name] = true
		t := StaticToken{Name: name, Role: role, hash: sha256.Sum256([]byte(token))}
		for _, o := range out {
			if o.hash == t.hash {
				return nil, fmt.Errorf("API_TOKENS entries %q and %q have the same token", o.Name, name)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// HashToken is the form a token is stored and compared in.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewToken returns a fresh random token: "ethox_" and 43 base64url characters (256 bits).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "ethox_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticator resolves tokens to principals.
type Authenticator struct {
	static []StaticToken
	client *ent.Client // nil: API_TOKENS only
	// enforce makes every check apply even when no token exists (production).
	enforce bool

	mu        sync.Mutex
	anyAt     time.Time
	anyTokens bool
}

// ErrInvalidToken is returned for a token that is unknown or revoked.
var ErrInvalidToken = apperr.New(apperr.Unauthenticated, "invalid or revoked API token")

// New builds an Authenticator. With enforce false (development), checks apply
// only once some token exists, so a fresh install stays open.
func New(static []StaticToken, client *ent.Client, enforce bool) *Authenticator {
	return &Authenticator{static: static, client: client, enforce: enforce}
}

// Authenticate returns the principal a token belongs to, or ErrInvalidToken.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Principal, error) {
	sum := sha256.Sum256([]byte(token))
	var found *StaticToken
	// Compare against every entry in constant time, so timing tells nothing
	// about which (or whether a) token matched.
	for i := range a.static {
		if subtle.ConstantTimeCompare(sum[:], a.static[i].hash[:]) == 1 {
			found = &a.static[i]
		}
	}
	if found != nil {
		return &Principal{Name: found.Name, Role: found.Role, Source: "env"}, nil
	}
	if a.client == nil {
		return nil, ErrInvalidToken
	}
	// The lookup is by SHA-256 of the token: index timing can reveal at most
	// a prefix of a hash, which says nothing about the token itself.
	hash := hex.EncodeToString(sum[:])
	t, err := a.client.APIToken.Query().Where(apitoken.TokenHash(hash), apitoken.RevokedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("token lookup: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(t.TokenHash), []byte(hash)) != 1 {
		return nil, ErrInvalidToken
	}
	role, err := ParseRole(string(t.Role))
	if err != nil {
		return nil, err
	}
	return &Principal{Name: t.Name, Role: role, Source: "database"}, nil
}

// anyTokenTTL bounds how long a development server takes to notice the first
// token created by `ethox token create` in another process.
const anyTokenTTL = 5 * time.Second

// Enforcing reports whether checks apply: always in production, and in
// development once any token is configured or stored.
func (a *Authenticator) Enforcing(ctx context.Context) (bool, error) {
	if a.enforce || len(a.static) > 0 {
		return true, nil
	}
	if a.client == nil {
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.anyAt) < anyTokenTTL {
		return a.anyTokens, nil
	}
	n, err := a.client.APIToken.Query().Where(apitoken.RevokedAtIsNil()).Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("token lookup: %w", err)
	}
	a.anyTokens, a.anyAt = n, time.Now()
	return n, nil
}

// Check decides whether a request presenting token (maybe "") may do what
// needs role. It returns the principal (nil when none was presented) or an
// UNAUTHENTICATED or FORBIDDEN error naming what was needed.
func (a *Authenticator) Check(ctx context.Context, token string, need Role, what string) (*Principal, error) {
	enforcing, err := a.Enforcing(ctx)
	if err != nil {
		return nil, err
	}
	if !enforcing {
		return &Principal{Name: "anonymous", Role: Admin, Source: "open"}, nil
	}
	if token == "" {
		if need == None {
			return nil, nil
		}
		return nil, apperr.New(apperr.Unauthenticated, "%s needs an API token with role %s (Authorization: Bearer …)", what, need)
	}
	p, err := a.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	if p.Role < need {
		return p, apperr.New(apperr.Forbidden, "%s needs role %s; token %q has role %s", what, need, p.Name, p.Role)
	}
	return p, nil
}

// Tokens manages the tokens stored in the database.
type Tokens struct{ Client *ent.Client }

// Create stores a new token and returns it; it is shown this once only.
func (s Tokens) Create(ctx context.Context, name string, role Role) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", apperr.New(apperr.BadInput, "token name is empty")
	}
	if role == None {
		return "", apperr.New(apperr.BadInput, "token role is missing")
	}
	token, err := NewToken()
	if err != nil {
		return "", err
	}
	err = s.Client.APIToken.Create().SetName(name).SetRole(apitoken.Role(role.String())).SetTokenHash(HashToken(token)).Exec(ctx)
	if ent.IsConstraintError(err) {
		return "", apperr.New(apperr.BadInput, "a token named %q exists already (revoked ones keep their name)", name)
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// Revoke marks a token revoked; it stops working at once.
func (s Tokens) Revoke(ctx context.Context, name string) error {
	n, err := s.Client.APIToken.Update().Where(apitoken.Name(name), apitoken.RevokedAtIsNil()).SetRevokedAt(time.Now()).Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.New(apperr.NotFound, "no active token named %q", name)
	}
	return nil
}

// List returns the stored tokens (never their secrets), oldest first.
func (s Tokens) List(ctx context.Context) ([]*ent.APIToken, error) {
	return s.Client.APIToken.Query().Order(ent.Asc(apitoken.FieldCreatedAt), ent.Asc(apitoken.FieldID)).All(ctx)
}

// RequireAny fails when neither API_TOKENS nor the database holds an active token.
func (a *Authenticator) RequireAny(ctx context.Context) error {
	if len(a.static) > 0 {
		return nil
	}
	if a.client != nil {
		ok, err := a.client.APIToken.Query().Where(apitoken.RevokedAtIsNil()).Exist(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return errors.New("no API tokens: set API_TOKENS=name:role:token[,…] or create one with `ethox token create --name NAME --role ROLE`")
}
