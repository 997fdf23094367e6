// Package inventory is the hub's stock keeping (reference §3.11): items, locations (warehouses and
// one van per technician), stock per item and location, the movements ledger, reservations, work
// order materials and their consumption in the field, material requests, transfers and alerts.
//
// Every change of on hand or reserved stock happens under a row lock of its inventory_stock row
// (SELECT … FOR UPDATE) and writes one inventory_movements row. Stock rows are locked in
// (item_id, location_id) order so that concurrent transfers and consumptions cannot deadlock.
package inventory

import (
	"fmt"
	"time"
)

// Location kinds.
const (
	KindWarehouse = "warehouse"
	KindVan       = "van"
)

// Reservation statuses.
const (
	ReservationActive   = "active"
	ReservationReleased = "released"
	ReservationConsumed = "consumed"
)

// Material request statuses.
const (
	RequestDraft     = "draft"
	RequestSubmitted = "submitted"
	RequestApproved  = "approved"
	RequestIssued    = "issued"
	RequestFulfilled = "fulfilled"
	RequestRejected  = "rejected"
	RequestCanceled  = "canceled"
)

// Alert kinds.
const (
	AlertLowStock        = "low_stock"
	AlertNegativeStock   = "negative_stock"
	AlertOverConsumption = "over_consumption"
)

// MaxQuantity bounds any quantity a caller sends.
const MaxQuantity = 1e9

// Item is a stock keeping unit. UnitCost stays on the hub: it is never part of a field payload.
type Item struct {
	ID           string    `json:"id"`
	SKU          string    `json:"sku"`
	Name         string    `json:"name"`
	Description  string    `json:"description"`
	Unit         string    `json:"unit"`
	UnitCost     *float64  `json:"unit_cost"`
	Currency     string    `json:"currency"`
	IsSerialized bool      `json:"is_serialized"`
	ReorderLevel *float64  `json:"reorder_level"`
	IsActive     bool      `json:"is_active"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ItemCreate is POST /api/v1/inventory/items. SKU is generated (SKU-000001) when empty.
type ItemCreate struct {
	SKU          string   `json:"sku"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Unit         string   `json:"unit"`
	UnitCost     *float64 `json:"unit_cost"`
	Currency     string   `json:"currency"`
	IsSerialized bool     `json:"is_serialized"`
	ReorderLevel *float64 `json:"reorder_level"`
}

// ItemUpdate is PATCH /api/v1/inventory/items/{id}; nil fields stay as they are.
type ItemUpdate struct {
	Name         *string  `json:"name"`
	Description  *string  `json:"description"`
	Unit         *string  `json:"unit"`
	UnitCost     *float64 `json:"unit_cost"`
	ReorderLevel *float64 `json:"reorder_level"`
	IsActive     *bool    `json:"is_active"`
	// Version is the version the caller saw (optional): when the item has moved on, 409.
	Version *int64 `json:"version"`
}

// ItemFilter narrows FindItems.
type ItemFilter struct {
	Query         string
	IncludeHidden bool // inactive items too
	Limit, Offset int
}

// Location is a warehouse or a technician's van.
type Location struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Code           string    `json:"code"`
	Kind           string    `json:"kind"`
	TechnicianID   *string   `json:"technician_id"`
	TechnicianName string    `json:"technician_name,omitempty"`
	Address        string    `json:"address"`
	IsActive       bool      `json:"is_active"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// LocationCreate is POST /api/v1/inventory/locations. Code is generated when empty.
type LocationCreate struct {
	Name         string  `json:"name"`
	Code         string  `json:"code"`
	Kind         string  `json:"kind"`
	TechnicianID *string `json:"technician_id"`
	Address      string  `json:"address"`
}

// LocationUpdate is PATCH /api/v1/inventory/locations/{id}; nil fields stay as they are. A van's
// technician and a location's kind do not change: make a new location instead.
type LocationUpdate struct {
	Name     *string `json:"name"`
	Code     *string `json:"code"`
	Address  *string `json:"address"`
	IsActive *bool   `json:"is_active"`
	// Version is the version the caller saw (optional): when the location has moved on, 409.
	Version *int64 `json:"version"`
}

// Stock is an item's quantities at a location.
type Stock struct {
	ID           string    `json:"id"`
	ItemID       string    `json:"item_id"`
	SKU          string    `json:"sku"`
	ItemName     string    `json:"item_name"`
	Unit         string    `json:"unit"`
	LocationID   string    `json:"location_id"`
	LocationName string    `json:"location_name"`
	LocationCode string    `json:"location_code"`
	LocationKind string    `json:"location_kind"`
	OnHand       float64   `json:"on_hand"`
	Reserved     float64   `json:"reserved"`
	Available    float64   `json:"available"`
	ReorderLevel *float64  `json:"reorder_level"` // the threshold in force (the stock row's, else the item's)
	Low          bool      `json:"low"`           // available is below the threshold
	Version      int64     `json:"version"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// StockFilter narrows FindStock.
type StockFilter struct {
	ItemID, LocationID, Kind string
	LowOnly                  bool
	Limit, Offset            int
}

// Adjustment is POST /api/v1/inventory/stock/adjust.
type Adjustment struct {
	ItemID        string  `json:"item_id"`
	LocationID    string  `json:"location_id"`
	QuantityDelta float64 `json:"quantity_delta"`
	Reason        string  `json:"reason"`
}

// Threshold is POST /api/v1/inventory/stock/threshold: the low-stock level of an item at a
// location (null falls back to the item's reorder level).
type Threshold struct {
	ItemID       string   `json:"item_id"`
	LocationID   string   `json:"location_id"`
	ReorderLevel *float64 `json:"reorder_level"`
}

// Movement is one ledger row.
type Movement struct {
	ID            string    `json:"id"`
	ItemID        string    `json:"item_id"`
	SKU           string    `json:"sku"`
	LocationID    string    `json:"location_id"`
	LocationCode  string    `json:"location_code"`
	Kind          string    `json:"kind"`
	OnHandDelta   float64   `json:"on_hand_delta"`
	ReservedDelta float64   `json:"reserved_delta"`
	OnHandAfter   float64   `json:"on_hand_after"`
	ReservedAfter float64   `json:"reserved_after"`
	Reason        string    `json:"reason"`
	RefType       string    `json:"ref_type"`
	RefID         *string   `json:"ref_id"`
	WorkOrderID   *string   `json:"work_order_id"`
	SerialNumbers []string  `json:"serial_numbers"`
	ActorID       *string   `json:"actor_id"`
	CreatedAt     time.Time `json:"created_at"`
}

// MovementFilter narrows FindMovements.
type MovementFilter struct {
	ItemID, LocationID, WorkOrderID string
	Limit, Offset                   int
}

// Reservation holds stock for a work order.
type Reservation struct {
	ID               string  `json:"id"`
	ItemID           string  `json:"item_id"`
	LocationID       string  `json:"location_id"`
	WorkOrderID      *string `json:"work_order_id"`
	Quantity         float64 `json:"quantity"`
	ConsumedQuantity float64 `json:"consumed_quantity"`
	Status           string  `json:"status"`
}

// Material is a work order material line as the office sees it.
type Material struct {
	ID               string       `json:"id"`
	WorkOrderID      string       `json:"work_order_id"`
	ItemID           string       `json:"item_id"`
	SKU              string       `json:"sku"`
	Name             string       `json:"name"`
	Unit             string       `json:"unit"`
	LocationID       *string      `json:"location_id"`
	Quantity         float64      `json:"quantity"`
	ConsumedQuantity float64      `json:"consumed_quantity"`
	Status           string       `json:"status"`
	Notes            string       `json:"notes"`
	FlaggedForReview bool         `json:"flagged_for_review"`
	ReviewNote       string       `json:"review_note"`
	Reservation      *Reservation `json:"reservation"`
	Version          int64        `json:"version"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
}

// MaterialCreate is POST /api/v1/work-orders/{id}/materials. With a location the stock is
// reserved there (409 when less is available); without one the line is only required.
type MaterialCreate struct {
	ItemID     string  `json:"item_id"`
	LocationID string  `json:"location_id"`
	Quantity   float64 `json:"quantity"`
	Notes      string  `json:"notes"`
}

// Transfer moves stock between two locations in one transaction.
type Transfer struct {
	ID                string         `json:"id"`
	Number            string         `json:"number"`
	FromLocationID    string         `json:"from_location_id"`
	FromLocationName  string         `json:"from_location_name"`
	ToLocationID      string         `json:"to_location_id"`
	ToLocationName    string         `json:"to_location_name"`
	MaterialRequestID *string        `json:"material_request_id"`
	Note              string         `json:"note"`
	Items             []TransferItem `json:"items"`
	CreatedBy         *string        `json:"created_by"`
	CreatedAt         time.Time      `json:"created_at"`
}

// TransferItem is one item of a transfer.
type TransferItem struct {
	ItemID        string   `json:"item_id"`
	SKU           string   `json:"sku,omitempty"`
	Name          string   `json:"name,omitempty"`
	Quantity      float64  `json:"quantity"`
	SerialNumbers []string `json:"serial_numbers"`
}

// TransferCreate is POST /api/v1/inventory/transfers.
type TransferCreate struct {
	FromLocationID string         `json:"from_location_id"`
	ToLocationID   string         `json:"to_location_id"`
	Note           string         `json:"note"`
	Items          []TransferItem `json:"items"`
}

// MaterialRequest asks for stock to be issued to a location (typically a van) or a work order.
type MaterialRequest struct {
	ID                    string                `json:"id"`
	Number                string                `json:"number"`
	Status                string                `json:"status"`
	Priority              string                `json:"priority"`
	WorkOrderID           *string               `json:"work_order_id"`
	RequestedBy           *string               `json:"requested_by"`
	RequestedByName       string                `json:"requested_by_name"`
	ApprovedBy            *string               `json:"approved_by"`
	SourceLocationID      *string               `json:"source_location_id"`
	SourceLocationName    string                `json:"source_location_name"`
	DestinationLocationID *string               `json:"destination_location_id"`
	DestinationName       string                `json:"destination_location_name"`
	TransferID            *string               `json:"transfer_id"`
	Notes                 string                `json:"notes"`
	RejectReason          string                `json:"reject_reason"`
	Items                 []MaterialRequestItem `json:"items"`
	SubmittedAt           *time.Time            `json:"submitted_at"`
	ApprovedAt            *time.Time            `json:"approved_at"`
	IssuedAt              *time.Time            `json:"issued_at"`
	FulfilledAt           *time.Time            `json:"fulfilled_at"`
	Version               int64                 `json:"version"`
	CreatedAt             time.Time             `json:"created_at"`
	UpdatedAt             time.Time             `json:"updated_at"`
}

// MaterialRequestItem is one line of a request.
type MaterialRequestItem struct {
	ItemID        string   `json:"item_id"`
	SKU           string   `json:"sku,omitempty"`
	Name          string   `json:"name,omitempty"`
	Unit          string   `json:"unit,omitempty"`
	IsSerialized  bool     `json:"is_serialized,omitempty"`
	Quantity      float64  `json:"quantity"`
	SerialNumbers []string `json:"serial_numbers"`
}

// MaterialRequestCreate is POST /api/v1/material-requests. Submit true skips the draft.
type MaterialRequestCreate struct {
	Priority              string                `json:"priority"`
	WorkOrderID           *string               `json:"work_order_id"`
	SourceLocationID      *string               `json:"source_location_id"`
	DestinationLocationID *string               `json:"destination_location_id"`
	Notes                 string                `json:"notes"`
	Items                 []MaterialRequestItem `json:"items"`
	Submit                bool                  `json:"submit"`
}

// RequestAction is the body of the material request actions (all fields optional): a reject
// reason, or serial numbers per item id when issuing.
type RequestAction struct {
	Reason           string              `json:"reason"`
	SourceLocationID *string             `json:"source_location_id"`
	SerialNumbers    map[string][]string `json:"serial_numbers"`
}

// RequestFilter narrows FindMaterialRequests.
type RequestFilter struct {
	Status, WorkOrderID string
	Limit, Offset       int
}

// Alert is a stock alert for someone to look at.
type Alert struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	ItemID       string     `json:"item_id"`
	SKU          string     `json:"sku"`
	ItemName     string     `json:"item_name"`
	LocationID   *string    `json:"location_id"`
	LocationName string     `json:"location_name"`
	WorkOrderID  *string    `json:"work_order_id"`
	MaterialID   *string    `json:"material_id"`
	Message      string     `json:"message"`
	Quantity     *float64   `json:"quantity"`
	Threshold    *float64   `json:"threshold"`
	Status       string     `json:"status"`
	ResolvedBy   *string    `json:"resolved_by"`
	ResolvedAt   *time.Time `json:"resolved_at"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// AlertFilter narrows FindAlerts.
type AlertFilter struct {
	Status, Kind  string
	Limit, Offset int
}

// LevelText is the threshold in force for pages ("—" when none).
func (s Stock) LevelText() string { return qtyText(s.ReorderLevel) }

// LevelText is the item's low-stock level for pages.
func (it Item) LevelText() string { return qtyText(it.ReorderLevel) }

// CostText is the item's unit cost for pages.
func (it Item) CostText() string {
	if it.UnitCost == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f %s", *it.UnitCost, it.Currency)
}

func qtyText(q *float64) string {
	if q == nil {
		return "—"
	}
	return fmtQty(*q)
}
