"use client";
// The adapter list's sort orders (the API's AdapterOrder) and a sortable column header that
// says its state to screen readers (aria-sort) and toggles the direction when pressed.

export type AdapterOrder = "NAME_ASC" | "NAME_DESC" | "UPDATED_DESC" | "UPDATED_ASC" | "CREATED_DESC" | "CREATED_ASC";

export const adapterOrders: { value: AdapterOrder; label: string }[] = [
  { value: "NAME_ASC", label: "Name, A to Z" },
  { value: "NAME_DESC", label: "Name, Z to A" },
  { value: "UPDATED_DESC", label: "Recently updated" },
  { value: "UPDATED_ASC", label: "Least recently updated" },
  { value: "CREATED_DESC", label: "Newest" },
  { value: "CREATED_ASC", label: "Oldest" },
];

interface SortHeaderProps {
  label: string;
  /** The two orders of this column, the first one applied first. */
  orders: [AdapterOrder, AdapterOrder];
  current: AdapterOrder;
  onSort(order: AdapterOrder): void;
}

export function SortHeader({ label, orders, current, onSort }: SortHeaderProps) {
  const index = orders.indexOf(current);
  const ascending = current.endsWith("_ASC");
  const sort = index < 0 ? "none" : ascending ? "ascending" : "descending";
  return (
    <th scope="col" aria-sort={sort}>
      <button type="button" className="sort" onClick={() => onSort(index === 0 ? orders[1] : orders[0])}>
        {label}
        <span aria-hidden="true">{index < 0 ? " ↕" : ascending ? " ↑" : " ↓"}</span>
      </button>
    </th>
  );
}

interface SearchAndSortProps {
  /** Prefix of the sort control's id (one per page). */
  id: string;
  searchLabel: string;
  search: string;
  onSearch: (value: string) => void;
  orderBy: AdapterOrder;
  onOrder: (order: AdapterOrder) => void;
}

/** The search box and sort select that head a list of adapters. */
export function SearchAndSort({ id, searchLabel, search, onSearch, orderBy, onOrder }: SearchAndSortProps) {
  return (
    <>
      <input type="search" placeholder="Search by name or description" aria-label={searchLabel} value={search} onChange={(e) => onSearch(e.target.value)} />
      <span className="inline">
        <label htmlFor={`${id}-order`}>Sort</label>
        <select id={`${id}-order`} value={orderBy} onChange={(e) => onOrder(e.target.value as AdapterOrder)}>
          {adapterOrders.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </span>
    </>
  );
}
