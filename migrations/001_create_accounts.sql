-- Accounts, users, memberships, browser sessions, login throttling and API keys:
-- the foundation every other domain hangs off.

create table accounts (
    id          text primary key,                        -- ac_...
    name        text not null check (length(name) between 1 and 80),
    plan        text not null default 'free',
    created_at  timestamptz not null default now()
);

create table users (
    id             text primary key,                     -- usr_...
    email          text not null,
    name           text not null check (length(name) between 1 and 80),
    password_hash  text not null,
    created_at     timestamptz not null default now(),
    last_seen_at   timestamptz
);
create unique index users_email_key on users (lower(email));

create table memberships (
    account_id  text not null references accounts (id) on delete cascade,
    user_id     text not null references users (id) on delete cascade,
    roles       text[] not null default '{}',
    created_at  timestamptz not null default now(),
    primary key (account_id, user_id)
);
create index memberships_user_idx on memberships (user_id);

-- Server-side browser sessions. Only a SHA-256 of the cookie value is stored.
create table web_sessions (
    token_hash   bytea primary key,
    user_id      text not null references users (id) on delete cascade,
    account_id   text not null references accounts (id) on delete cascade,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null,
    ip           text not null default '',
    user_agent   text not null default ''
);
create index web_sessions_user_idx on web_sessions (user_id);
create index web_sessions_expires_idx on web_sessions (expires_at);

-- Failed sign-in attempts, counted per IP and per email over a sliding window.
create table login_failures (
    id          bigserial primary key,
    ip          text not null,
    email       text not null,
    created_at  timestamptz not null default now()
);
create index login_failures_ip_idx on login_failures (ip, created_at);
create index login_failures_email_idx on login_failures (lower(email), created_at);

-- API keys: only a SHA-256 of the secret is stored; the token is shown once.
create table api_keys (
    id           text primary key,                       -- ak_...
    account_id   text not null references accounts (id) on delete cascade,
    owner_id     text not null references users (id) on delete cascade,
    token_hash   bytea not null unique,
    token_prefix text not null,
    description  text not null default '' check (octet_length(description) <= 255),
    metadata     text not null default '' check (octet_length(metadata) <= 4096),
    created_at   timestamptz not null default now(),
    last_used_at timestamptz
);
create index api_keys_account_idx on api_keys (account_id, id desc);

---- create above / drop below ----

drop table api_keys;
drop table login_failures;
drop table web_sessions;
drop table memberships;
drop table users;
drop table accounts;
