-- Tunnel credentials (authtokens): agents sign in with them. Only a SHA-256 of the token is stored.

create table credentials (
    id           text primary key,                       -- cr_...
    account_id   text not null references accounts (id) on delete cascade,
    owner_id     text references users (id) on delete set null,
    token_hash   bytea not null unique,
    token_prefix text not null,
    description  text not null default '' check (octet_length(description) <= 255),
    metadata     text not null default '' check (octet_length(metadata) <= 4096),
    acl          text[] not null default '{}',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz
);
create index credentials_account_idx on credentials (account_id, id desc);

---- create above / drop below ----

drop table credentials;
