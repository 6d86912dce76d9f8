-- Reserved domains and reserved TCP addresses: each belongs to one account and one region.
-- A domain is unique across all accounts (case-insensitively); so is an address (host:port),
-- which the bff allocates from the region's TCP port range on the region's public host.

create table reserved_domains (
    id           text primary key,                       -- rd_...
    account_id   text not null references accounts (id) on delete cascade,
    domain       text not null check (length(domain) between 1 and 253),
    region       text not null,
    description  text not null default '' check (octet_length(description) <= 255),
    metadata     text not null default '' check (octet_length(metadata) <= 4096),
    created_at   timestamptz not null default now()
);
create unique index reserved_domains_domain_key on reserved_domains (lower(domain));
create index reserved_domains_account_idx on reserved_domains (account_id, id desc);

create table reserved_addrs (
    id           text primary key,                       -- ra_...
    account_id   text not null references accounts (id) on delete cascade,
    addr         text not null,                          -- host:port
    region       text not null,
    description  text not null default '' check (octet_length(description) <= 255),
    metadata     text not null default '' check (octet_length(metadata) <= 4096),
    created_at   timestamptz not null default now()
);
create unique index reserved_addrs_addr_key on reserved_addrs (lower(addr));
create index reserved_addrs_account_idx on reserved_addrs (account_id, id desc);
create index reserved_addrs_region_idx on reserved_addrs (region);

---- create above / drop below ----

drop table reserved_addrs;
drop table reserved_domains;
