package control

import (
	"net/http"
	"testing"

	"github.com/edgeway/edgeway/bff/httperr"
	"github.com/edgeway/edgeway/internal/proto"
)

// TestToProtoTellsTheAgentWhereTheNameLives: an agent in auto mode follows Details["region"] of a
// 322/311 refusal to the region that holds the reservation, not the one it asked.
func TestToProtoTellsTheAgentWhereTheNameLives(t *testing.T) {
	for _, tc := range []struct{ code, want string }{{"ERR_EDGEWAY_322", proto.CodeDomainOtherRegion}, {"ERR_EDGEWAY_311", proto.CodeAddrOtherRegion}} {
		e := httperr.New(http.StatusConflict, tc.code, "reserved in eu")
		e.Details = map[string]any{"name": "app.example.com", "region": "us", "reserved_region": "eu"}
		err := toProto(e)
		pe, ok := err.(*proto.Error)
		if !ok || pe.Code != tc.want || pe.Details["region"] != "eu" || pe.Msg != "reserved in eu" {
			t.Fatalf("toProto(%s) = %#v", tc.code, err)
		}
	}
	if pe, _ := toProto(httperr.New(http.StatusForbidden, "ERR_EDGEWAY_RESERVED_BY_OTHER_ACCOUNT", "x")).(*proto.Error); pe == nil || pe.Code != proto.CodeBindDenied {
		t.Fatalf("other account: %v", pe)
	}
}
