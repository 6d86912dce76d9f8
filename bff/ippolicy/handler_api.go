package ippolicy

import (
	"context"
	"net/http"
	"time"

	"github.com/edgeway/edgeway/bff/api"
	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/bff/web"
	"github.com/edgeway/edgeway/internal/ids"
	"github.com/labstack/echo/v4"
)

// APIHandler serves /ip_policies, /ip_policy_rules and /ip_restrictions on the API listener.
type APIHandler struct {
	svc  *Service
	uris api.URIs
}

// NewAPIHandler returns an APIHandler.
func NewAPIHandler(svc *Service, uris api.URIs) *APIHandler { return &APIHandler{svc: svc, uris: uris} }

// PolicyJSON is a policy as the API shows it.
type PolicyJSON struct {
	ID          string `json:"id"`
	URI         string `json:"uri"`
	CreatedAt   string `json:"created_at"`
	Description string `json:"description"`
	Metadata    string `json:"metadata"`
}

// PolicyListJSON is a page of policies.
type PolicyListJSON struct {
	IPPolicies  []PolicyJSON `json:"ip_policies"`
	URI         string       `json:"uri"`
	NextPageURI *string      `json:"next_page_uri"`
}

// RuleJSON is a rule as the API shows it.
type RuleJSON struct {
	ID          string  `json:"id"`
	URI         string  `json:"uri"`
	CreatedAt   string  `json:"created_at"`
	Description string  `json:"description"`
	Metadata    string  `json:"metadata"`
	CIDR        string  `json:"cidr"`
	IPPolicy    api.Ref `json:"ip_policy"`
	Action      string  `json:"action"`
}

// RuleListJSON is a page of rules.
type RuleListJSON struct {
	IPPolicyRules []RuleJSON `json:"ip_policy_rules"`
	URI           string     `json:"uri"`
	NextPageURI   *string    `json:"next_page_uri"`
}

// RestrictionJSON is a restriction as the API shows it.
type RestrictionJSON struct {
	ID          string    `json:"id"`
	URI         string    `json:"uri"`
	CreatedAt   string    `json:"created_at"`
	Description string    `json:"description"`
	Metadata    string    `json:"metadata"`
	Enforced    bool      `json:"enforced"`
	Type        string    `json:"type"`
	IPPolicies  []api.Ref `json:"ip_policies"`
}

// RestrictionListJSON is a page of restrictions.
type RestrictionListJSON struct {
	IPRestrictions []RestrictionJSON `json:"ip_restrictions"`
	URI            string            `json:"uri"`
	NextPageURI    *string           `json:"next_page_uri"`
}

type policyInputJSON struct {
	Description *string `json:"description"`
	Metadata    *string `json:"metadata"`
}

type ruleInputJSON struct {
	Description *string `json:"description"`
	Metadata    *string `json:"metadata"`
	CIDR        *string `json:"cidr"`
	IPPolicyID  *string `json:"ip_policy_id"`
	Action      *string `json:"action"`
}

type restrictionInputJSON struct {
	Description *string  `json:"description"`
	Metadata    *string  `json:"metadata"`
	Enforced    *bool    `json:"enforced"`
	Type        *string  `json:"type"`
	IPPolicyIDs []string `json:"ip_policy_ids"`
}

func (in restrictionInputJSON) input() RestrictionInput {
	return RestrictionInput{Type: in.Type, Enforced: in.Enforced, PolicyIDs: in.IPPolicyIDs, Description: in.Description, Metadata: in.Metadata}
}

func fixedField(field, msg string) error {
	e := httperr.New(http.StatusBadRequest, httperr.CodeValidation, msg)
	e.Fields = map[string]string{field: msg}
	return e
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (h *APIHandler) policyRef(id string) api.Ref {
	return api.Ref{ID: id, URI: h.uris.Resource("/ip_policies/" + id)}
}

func (h *APIHandler) policyJSON(p Policy) PolicyJSON {
	return PolicyJSON{ID: p.ID, URI: h.uris.Resource("/ip_policies/" + p.ID), CreatedAt: stamp(p.CreatedAt),
		Description: p.Description, Metadata: p.Metadata}
}

func (h *APIHandler) ruleJSON(r Rule) RuleJSON {
	return RuleJSON{ID: r.ID, URI: h.uris.Resource("/ip_policy_rules/" + r.ID), CreatedAt: stamp(r.CreatedAt),
		Description: r.Description, Metadata: r.Metadata, CIDR: r.CIDR, IPPolicy: h.policyRef(r.PolicyID), Action: r.Action}
}

func (h *APIHandler) restrictionJSON(r Restriction) RestrictionJSON {
	return RestrictionJSON{ID: r.ID, URI: h.uris.Resource("/ip_restrictions/" + r.ID), CreatedAt: stamp(r.CreatedAt),
		Description: r.Description, Metadata: r.Metadata, Enforced: r.Enforced, Type: r.Type,
		IPPolicies: api.Map(r.PolicyIDs, h.policyRef)}
}

// CreatePolicy handles POST /ip_policies.
func (h *APIHandler) CreatePolicy(c echo.Context) error {
	var in policyInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	pol, err := h.svc.CreatePolicy(c.Request().Context(), p, PolicyInput(in))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.policyJSON(pol))
}

// ListPolicies handles GET /ip_policies.
func (h *APIHandler) ListPolicies(c echo.Context) error {
	return api.List(c, ids.IPPolicy, h.uris, h.svc.ListPolicies, func(pol Policy) string { return pol.ID },
		func(items []Policy, uri string, next *string) PolicyListJSON {
			return PolicyListJSON{URI: uri, NextPageURI: next, IPPolicies: api.Map(items, h.policyJSON)}
		})
}

// GetPolicy handles GET /ip_policies/{id}.
func (h *APIHandler) GetPolicy(c echo.Context) error {
	return api.Get(c, h.svc.GetPolicy, h.policyJSON)
}

// UpdatePolicy handles PATCH /ip_policies/{id}.
func (h *APIHandler) UpdatePolicy(c echo.Context) error {
	var in policyInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	pol, err := h.svc.UpdatePolicy(c.Request().Context(), p, c.Param("id"), PolicyInput(in))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.policyJSON(pol))
}

// DeletePolicy handles DELETE /ip_policies/{id}.
func (h *APIHandler) DeletePolicy(c echo.Context) error {
	return api.Delete(c, h.svc.DeletePolicy)
}

// CreateRule handles POST /ip_policy_rules.
func (h *APIHandler) CreateRule(c echo.Context) error {
	var in ruleInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	r, err := h.svc.CreateRule(c.Request().Context(), p, SelfCheck{}, RuleInput{PolicyID: deref(in.IPPolicyID), CIDR: in.CIDR,
		Action: in.Action, Description: in.Description, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.ruleJSON(r))
}

// ListRules handles GET /ip_policy_rules (?ip_policy_id= narrows to one policy).
func (h *APIHandler) ListRules(c echo.Context) error {
	return api.List(c, ids.IPPolicyRule, h.uris, func(ctx context.Context, p web.Principal, before string, n int) ([]Rule, error) {
		return h.svc.ListRules(ctx, p, c.QueryParam("ip_policy_id"), before, n)
	}, func(r Rule) string { return r.ID },
		func(items []Rule, uri string, next *string) RuleListJSON {
			return RuleListJSON{URI: uri, NextPageURI: next, IPPolicyRules: api.Map(items, h.ruleJSON)}
		})
}

// GetRule handles GET /ip_policy_rules/{id}.
func (h *APIHandler) GetRule(c echo.Context) error {
	return api.Get(c, h.svc.GetRule, h.ruleJSON)
}

// UpdateRule handles PATCH /ip_policy_rules/{id}: description, metadata and cidr; not the action.
func (h *APIHandler) UpdateRule(c echo.Context) error {
	var in ruleInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	if in.IPPolicyID != nil {
		return fixedField("ip_policy_id", "A rule cannot move to another policy. Create it in that policy instead.")
	}
	r, err := h.svc.UpdateRule(c.Request().Context(), p, SelfCheck{}, c.Param("id"), RuleInput{CIDR: in.CIDR, Action: in.Action,
		Description: in.Description, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.ruleJSON(r))
}

// DeleteRule handles DELETE /ip_policy_rules/{id}.
func (h *APIHandler) DeleteRule(c echo.Context) error {
	p, _ := web.PrincipalFrom(c)
	if err := h.svc.DeleteRule(c.Request().Context(), p, SelfCheck{}, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// CreateRestriction handles POST /ip_restrictions.
func (h *APIHandler) CreateRestriction(c echo.Context) error {
	var in restrictionInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	r, err := h.svc.CreateRestriction(c.Request().Context(), p, SelfCheck{}, in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, h.restrictionJSON(r))
}

// ListRestrictions handles GET /ip_restrictions.
func (h *APIHandler) ListRestrictions(c echo.Context) error {
	return api.List(c, ids.IPRestriction, h.uris, h.svc.ListRestrictions, func(r Restriction) string { return r.ID },
		func(items []Restriction, uri string, next *string) RestrictionListJSON {
			return RestrictionListJSON{URI: uri, NextPageURI: next, IPRestrictions: api.Map(items, h.restrictionJSON)}
		})
}

// GetRestriction handles GET /ip_restrictions/{id}.
func (h *APIHandler) GetRestriction(c echo.Context) error {
	return api.Get(c, h.svc.GetRestriction, h.restrictionJSON)
}

// UpdateRestriction handles PATCH /ip_restrictions/{id}: enforced, ip_policy_ids, description,
// metadata; not the type.
func (h *APIHandler) UpdateRestriction(c echo.Context) error {
	var in restrictionInputJSON
	if err := api.Bind(c, &in); err != nil {
		return err
	}
	p, _ := web.PrincipalFrom(c)
	r, err := h.svc.UpdateRestriction(c.Request().Context(), p, SelfCheck{}, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.restrictionJSON(r))
}

// DeleteRestriction handles DELETE /ip_restrictions/{id}.
func (h *APIHandler) DeleteRestriction(c echo.Context) error {
	return api.Delete(c, h.svc.DeleteRestriction)
}
