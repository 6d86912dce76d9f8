-- The control plane's view of the data plane: connected edges, live agent sessions and their
-- tunnels. Edges report them over the control channel; a reconnecting edge sends a snapshot that
-- replaces what was recorded for it.

create table edges (
    id           text primary key,                 -- edge_<region>_... random per edge process
    region       text not null,
    bff_id       text not null,                    -- the bff process holding the edge's channel
    http_addr    text not null default '',
    https_addr   text not null default '',
    agent_addr   text not null default '',
    base_domain  text not null default '',
    tcp_ports    text not null default '',
    connected    boolean not null default true,
    connected_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);

create table tunnel_sessions (
    id                text primary key,             -- ts_...
    account_id        text not null references accounts (id) on delete cascade,
    credential_id     text not null,                -- no FK: the row outlives a revoked credential briefly
    edge_id           text not null references edges (id) on delete cascade,
    region            text not null,
    client_id         text not null default '',
    agent_version     text not null default '',
    os                text not null default '',
    arch              text not null default '',
    hostname          text not null default '',
    metadata          text not null default '',
    ip                text not null default '',
    transport         text not null default '',
    remote_management boolean not null default true,
    started_at        timestamptz not null,
    stale_since       timestamptz                   -- set when its edge lost the control channel
);
create index tunnel_sessions_account_idx on tunnel_sessions (account_id, id desc);
create index tunnel_sessions_edge_idx on tunnel_sessions (edge_id);
create index tunnel_sessions_credential_idx on tunnel_sessions (credential_id);

create table tunnels (
    id          text primary key,                   -- tn_...
    session_id  text not null references tunnel_sessions (id) on delete cascade,
    account_id  text not null references accounts (id) on delete cascade,
    region      text not null,
    proto       text not null,
    public_url  text not null,
    forwards_to text not null default '',
    metadata    text not null default '',
    started_at  timestamptz not null
);
create index tunnels_account_idx on tunnels (account_id, id desc);
create index tunnels_session_idx on tunnels (session_id);

---- create above / drop below ----

drop table tunnels;
drop table tunnel_sessions;
drop table edges;
