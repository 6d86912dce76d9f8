// Package httperr is the one typed error the bff's handlers return: a stable code, an HTTP status,
// a message that is safe to show a client, per-field problems for forms, and the internal cause
// (logged, never sent).
package httperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Stable error codes. Codes that match the reference keep its number (ERR_EDGEWAY_1212 is the
// reference's 1212); codes of our own are named.
const (
	CodeInternal           = "ERR_EDGEWAY_INTERNAL"
	CodeNotFound           = "ERR_EDGEWAY_NOT_FOUND"
	CodeMethodNotAllowed   = "ERR_EDGEWAY_METHOD_NOT_ALLOWED"
	CodeValidation         = "ERR_EDGEWAY_VALIDATION"
	CodeInvalidJSON        = "ERR_EDGEWAY_INVALID_JSON"
	CodeUnsupportedMedia   = "ERR_EDGEWAY_UNSUPPORTED_MEDIA_TYPE"
	CodeBodyTooLarge       = "ERR_EDGEWAY_BODY_TOO_LARGE"
	CodeUnauthorized       = "ERR_EDGEWAY_UNAUTHORIZED"
	CodeForbidden          = "ERR_EDGEWAY_FORBIDDEN"
	CodeCSRF               = "ERR_EDGEWAY_CSRF"
	CodeVersionMissing     = "ERR_EDGEWAY_VERSION_MISSING"
	CodeVersionUnsupported = "ERR_EDGEWAY_VERSION_UNSUPPORTED"
	CodeInvalidPagination  = "ERR_EDGEWAY_INVALID_PAGINATION"
	CodeEmailTaken         = "ERR_EDGEWAY_EMAIL_TAKEN"
	CodeBadCredentials     = "ERR_EDGEWAY_BAD_CREDENTIALS"
	CodeLoginThrottled     = "ERR_EDGEWAY_LOGIN_THROTTLED"
	CodeRateLimited        = "ERR_EDGEWAY_RATE_LIMITED"
	CodeUnavailable        = "ERR_EDGEWAY_UNAVAILABLE"

	// Role-based access refusals, numbered as in the reference.
	CodeNoInvitePermission         = "ERR_EDGEWAY_1215" // may not invite team members
	CodeNoManageMembersPermission  = "ERR_EDGEWAY_1216" // may not manage team members
	CodeNoViewBillingPermission    = "ERR_EDGEWAY_1217" // may not view billing
	CodeNoChangeBillingPermission  = "ERR_EDGEWAY_1218" // may not change billing
	CodeNoDeveloperWritePermission = "ERR_EDGEWAY_1219" // may not change developer resources

	CodePlanLimit          = "ERR_EDGEWAY_PLAN_LIMIT"          // a limit of the account's plan is reached
	CodePaidPlanRequired   = "ERR_EDGEWAY_PAID_PLAN_REQUIRED"  // the feature needs a paid plan
	CodeLastAdmin          = "ERR_EDGEWAY_LAST_ADMIN"          // the account would lose its last administrator
	CodeInvitationInvalid  = "ERR_EDGEWAY_INVITATION_INVALID"  // the invitation link is used, revoked or expired
	CodeAlreadyMember      = "ERR_EDGEWAY_ALREADY_MEMBER"      // the person is already a member
	CodeInvitationConflict = "ERR_EDGEWAY_INVITATION_CONFLICT" // a pending invitation for that email exists

	// Reserved domains and addresses, and binding them (322 and 311 are the reference's numbers).
	CodeDomainTaken            = "ERR_EDGEWAY_DOMAIN_TAKEN"              // the domain is reserved by another account
	CodeDomainAlreadyReserved  = "ERR_EDGEWAY_DOMAIN_ALREADY_RESERVED"   // this account reserved the domain already
	CodeRegionImmutable        = "ERR_EDGEWAY_REGION_IMMUTABLE"          // a reservation's region cannot change
	CodeRegionNotServed        = "ERR_EDGEWAY_REGION_NOT_SERVED"         // no edge of the region serves TCP addresses
	CodeNoAddrsFree            = "ERR_EDGEWAY_NO_ADDRS_FREE"             // every TCP address of the region is reserved
	CodeDomainOtherRegion      = "ERR_EDGEWAY_322"                       // the domain is reserved in another region
	CodeAddrOtherRegion        = "ERR_EDGEWAY_311"                       // the TCP address is reserved in another region
	CodeReservedByOtherAccount = "ERR_EDGEWAY_RESERVED_BY_OTHER_ACCOUNT" // binding another account's reservation
	CodeRegionConflict         = "ERR_EDGEWAY_REGION_CONFLICT"           // names reserved in different regions

	// IP policies, rules and restrictions, numbered as in the reference.
	CodeIPRuleDuplicate          = "ERR_EDGEWAY_1408"                // the policy already has a rule for that CIDR
	CodeIPRuleNotNetwork         = "ERR_EDGEWAY_1409"                // the CIDR has host bits set (the network is suggested)
	CodeIPRuleMissingMask        = "ERR_EDGEWAY_1413"                // the CIDR has no mask
	CodeIPRuleLastOfDashboard    = "ERR_EDGEWAY_1419"                // the only rule of a policy the dashboard restriction uses
	CodeIPPolicyInUse            = "ERR_EDGEWAY_1420"                // the policy is used by a restriction
	CodeIPRuleInvalidAction      = "ERR_EDGEWAY_1422"                // the action is neither allow nor deny
	CodeIPRestrictionNoPolicy    = "ERR_EDGEWAY_1801"                // a policy of the restriction does not exist
	CodeIPRestrictionTypeTaken   = "ERR_EDGEWAY_1802"                // the account has a restriction of that type
	CodeIPRestrictionTypeInvalid = "ERR_EDGEWAY_1803"                // the type is not dashboard, api, agent or endpoints
	CodeIPRestrictionNoPolicies  = "ERR_EDGEWAY_1804"                // a restriction needs at least one policy
	CodeIPBlockedDashboard       = "ERR_EDGEWAY_1212"                // the dashboard restriction blocks the client IP
	CodeIPWarnDashboard          = "ERR_EDGEWAY_1211"                // warn-only: the client IP would be blocked once enforced
	CodeIPBlockedAPI             = "ERR_EDGEWAY_220"                 // the API restriction blocks the client IP
	CodeIPSelfLockout            = "ERR_EDGEWAY_IP_SELF_LOCKOUT"     // the change would block the person making it; confirm it
	CodeIPRecoveryInvalid        = "ERR_EDGEWAY_IP_RECOVERY_INVALID" // the recovery link is used, expired or not yours
)

// Error is an error with everything a handler needs to answer a client.
type Error struct {
	Status  int               // HTTP status
	Code    string            // stable error code
	Msg     string            // client-safe message that says what to fix
	Fields  map[string]string // per-field problems (form and JSON field name -> message)
	Details map[string]any    // extra client-safe details for the JSON body
	Err     error             // internal cause: logged, never sent
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return e.Code + ": " + e.Msg
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a status, code and message.
func New(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg}
}

// Wrap returns an Error with an internal cause.
func Wrap(err error, status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Msg: msg, Err: err}
}

// Internal wraps an unexpected error as a 500 without leaking it.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal,
		Msg: "Something went wrong on our side. The problem was logged; please try again.", Err: err}
}

// Validation returns a 400 with per-field problems. msg summarises them.
func Validation(msg string, fields map[string]string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Msg: msg, Fields: fields}
}

// NotFound returns a 404 naming what was not found.
func NotFound(what string) *Error {
	return New(http.StatusNotFound, CodeNotFound, what+" was not found.")
}

// As returns err as an *Error when it is one (or wraps one).
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
