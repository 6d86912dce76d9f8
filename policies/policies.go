// Package policies embeds Edgeway's Casbin RBAC model (model.conf) and its role -> permission
// policy (policy.csv), and builds an enforcer from them. The files are the readable source of
// truth for who may do what; package bff/authz applies them to requests.
package policies

import (
	_ "embed"
	"fmt"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

// Model is the Casbin model: request (role, object, action), role inheritance, allow-override.
//
//go:embed model.conf
var Model string

// Policy is the role -> permission policy in Casbin's CSV form.
//
//go:embed policy.csv
var Policy string

// NewEnforcer returns a Casbin enforcer loaded with Model and Policy. It is safe for concurrent use.
func NewEnforcer() (*casbin.SyncedEnforcer, error) {
	m, err := model.NewModelFromString(Model)
	if err != nil {
		return nil, fmt.Errorf("load rbac model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, stringadapter.NewAdapter(Policy))
	if err != nil {
		return nil, fmt.Errorf("load rbac policy: %w", err)
	}
	return e, nil
}
