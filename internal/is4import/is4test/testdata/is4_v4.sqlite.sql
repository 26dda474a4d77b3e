-- IdentityServer4 4.1.2 schema (ConfigurationDb.sql 20200522172542_Config, PersistedGrantDb.sql
-- 20200522172538_Grants, AspNetIdentity UsersDb.sql), translated from SQL Server by gen.py.
-- Tokens: @ID@ int identity key, @KEY@ nvarchar(450) key, @S(n)@ nvarchar(n), @TEXT@ nvarchar(max),
-- @BOOL@ bit, @INT@ int, @DT@ datetime2, @DTO@ datetimeoffset.
CREATE TABLE ApiResources (Id INTEGER PRIMARY KEY AUTOINCREMENT, Enabled INTEGER NOT NULL, Name TEXT NOT NULL, DisplayName TEXT NULL, Description TEXT NULL, AllowedAccessTokenSigningAlgorithms TEXT NULL, ShowInDiscoveryDocument INTEGER NOT NULL, Created TEXT NOT NULL, Updated TEXT NULL, LastAccessed TEXT NULL, NonEditable INTEGER NOT NULL);
CREATE UNIQUE INDEX IX_ApiResources_Name ON ApiResources (Name);
CREATE TABLE ApiScopes (Id INTEGER PRIMARY KEY AUTOINCREMENT, Enabled INTEGER NOT NULL, Name TEXT NOT NULL, DisplayName TEXT NULL, Description TEXT NULL, Required INTEGER NOT NULL, Emphasize INTEGER NOT NULL, ShowInDiscoveryDocument INTEGER NOT NULL);
CREATE UNIQUE INDEX IX_ApiScopes_Name ON ApiScopes (Name);
CREATE TABLE Clients (Id INTEGER PRIMARY KEY AUTOINCREMENT, Enabled INTEGER NOT NULL, ClientId TEXT NOT NULL, ProtocolType TEXT NOT NULL, RequireClientSecret INTEGER NOT NULL, ClientName TEXT NULL, Description TEXT NULL, ClientUri TEXT NULL, LogoUri TEXT NULL, RequireConsent INTEGER NOT NULL, AllowRememberConsent INTEGER NOT NULL, AlwaysIncludeUserClaimsInIdToken INTEGER NOT NULL, RequirePkce INTEGER NOT NULL, AllowPlainTextPkce INTEGER NOT NULL, RequireRequestObject INTEGER NOT NULL, AllowAccessTokensViaBrowser INTEGER NOT NULL, FrontChannelLogoutUri TEXT NULL, FrontChannelLogoutSessionRequired INTEGER NOT NULL, BackChannelLogoutUri TEXT NULL, BackChannelLogoutSessionRequired INTEGER NOT NULL, AllowOfflineAccess INTEGER NOT NULL, IdentityTokenLifetime INTEGER NOT NULL, AllowedIdentityTokenSigningAlgorithms TEXT NULL, AccessTokenLifetime INTEGER NOT NULL, AuthorizationCodeLifetime INTEGER NOT NULL, ConsentLifetime INTEGER NULL, AbsoluteRefreshTokenLifetime INTEGER NOT NULL, SlidingRefreshTokenLifetime INTEGER NOT NULL, RefreshTokenUsage INTEGER NOT NULL, UpdateAccessTokenClaimsOnRefresh INTEGER NOT NULL, RefreshTokenExpiration INTEGER NOT NULL, AccessTokenType INTEGER NOT NULL, EnableLocalLogin INTEGER NOT NULL, IncludeJwtId INTEGER NOT NULL, AlwaysSendClientClaims INTEGER NOT NULL, ClientClaimsPrefix TEXT NULL, PairWiseSubjectSalt TEXT NULL, Created TEXT NOT NULL, Updated TEXT NULL, LastAccessed TEXT NULL, UserSsoLifetime INTEGER NULL, UserCodeType TEXT NULL, DeviceCodeLifetime INTEGER NOT NULL, NonEditable INTEGER NOT NULL);
CREATE UNIQUE INDEX IX_Clients_ClientId ON Clients (ClientId);
CREATE TABLE IdentityResources (Id INTEGER PRIMARY KEY AUTOINCREMENT, Enabled INTEGER NOT NULL, Name TEXT NOT NULL, DisplayName TEXT NULL, Description TEXT NULL, Required INTEGER NOT NULL, Emphasize INTEGER NOT NULL, ShowInDiscoveryDocument INTEGER NOT NULL, Created TEXT NOT NULL, Updated TEXT NULL, NonEditable INTEGER NOT NULL);
CREATE UNIQUE INDEX IX_IdentityResources_Name ON IdentityResources (Name);
CREATE TABLE ApiResourceClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, Type TEXT NOT NULL, ApiResourceId INTEGER NOT NULL);
CREATE TABLE ApiResourceProperties (Id INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NOT NULL, Value TEXT NOT NULL, ApiResourceId INTEGER NOT NULL);
CREATE TABLE ApiResourceScopes (Id INTEGER PRIMARY KEY AUTOINCREMENT, Scope TEXT NOT NULL, ApiResourceId INTEGER NOT NULL);
CREATE TABLE ApiResourceSecrets (Id INTEGER PRIMARY KEY AUTOINCREMENT, Description TEXT NULL, Value TEXT NOT NULL, Expiration TEXT NULL, Type TEXT NOT NULL, Created TEXT NOT NULL, ApiResourceId INTEGER NOT NULL);
CREATE TABLE ApiScopeClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, Type TEXT NOT NULL, ScopeId INTEGER NOT NULL);
CREATE TABLE ApiScopeProperties (Id INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NOT NULL, Value TEXT NOT NULL, ScopeId INTEGER NOT NULL);
CREATE TABLE ClientClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, Type TEXT NOT NULL, Value TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientCorsOrigins (Id INTEGER PRIMARY KEY AUTOINCREMENT, Origin TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientGrantTypes (Id INTEGER PRIMARY KEY AUTOINCREMENT, GrantType TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientIdPRestrictions (Id INTEGER PRIMARY KEY AUTOINCREMENT, Provider TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientPostLogoutRedirectUris (Id INTEGER PRIMARY KEY AUTOINCREMENT, PostLogoutRedirectUri TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientProperties (Id INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NOT NULL, Value TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientRedirectUris (Id INTEGER PRIMARY KEY AUTOINCREMENT, RedirectUri TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientScopes (Id INTEGER PRIMARY KEY AUTOINCREMENT, Scope TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE ClientSecrets (Id INTEGER PRIMARY KEY AUTOINCREMENT, Description TEXT NULL, Value TEXT NOT NULL, Expiration TEXT NULL, Type TEXT NOT NULL, Created TEXT NOT NULL, ClientId INTEGER NOT NULL);
CREATE TABLE IdentityResourceClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, Type TEXT NOT NULL, IdentityResourceId INTEGER NOT NULL);
CREATE TABLE IdentityResourceProperties (Id INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NOT NULL, Value TEXT NOT NULL, IdentityResourceId INTEGER NOT NULL);
CREATE TABLE DeviceCodes (UserCode TEXT NOT NULL PRIMARY KEY, DeviceCode TEXT NOT NULL, SubjectId TEXT NULL, SessionId TEXT NULL, ClientId TEXT NOT NULL, Description TEXT NULL, CreationTime TEXT NOT NULL, Expiration TEXT NOT NULL, Data TEXT NOT NULL);
CREATE TABLE PersistedGrants ("Key" TEXT NOT NULL PRIMARY KEY, Type TEXT NOT NULL, SubjectId TEXT NULL, SessionId TEXT NULL, ClientId TEXT NOT NULL, Description TEXT NULL, CreationTime TEXT NOT NULL, Expiration TEXT NULL, ConsumedTime TEXT NULL, Data TEXT NOT NULL);
CREATE INDEX IX_PersistedGrants_Expiration ON PersistedGrants (Expiration);
CREATE INDEX IX_PersistedGrants_SubjectId_ClientId_Type ON PersistedGrants (SubjectId, ClientId, Type);
CREATE INDEX IX_PersistedGrants_SubjectId_SessionId_Type ON PersistedGrants (SubjectId, SessionId, Type);
CREATE TABLE AspNetRoles (Id TEXT NOT NULL PRIMARY KEY, Name TEXT NULL, NormalizedName TEXT NULL, ConcurrencyStamp TEXT NULL);
CREATE TABLE AspNetUsers (Id TEXT NOT NULL PRIMARY KEY, UserName TEXT NULL, NormalizedUserName TEXT NULL, Email TEXT NULL, NormalizedEmail TEXT NULL, EmailConfirmed INTEGER NOT NULL, PasswordHash TEXT NULL, SecurityStamp TEXT NULL, ConcurrencyStamp TEXT NULL, PhoneNumber TEXT NULL, PhoneNumberConfirmed INTEGER NOT NULL, TwoFactorEnabled INTEGER NOT NULL, LockoutEnd TEXT NULL, LockoutEnabled INTEGER NOT NULL, AccessFailedCount INTEGER NOT NULL);
CREATE UNIQUE INDEX UserNameIndex ON AspNetUsers (NormalizedUserName);
CREATE INDEX EmailIndex ON AspNetUsers (NormalizedEmail);
CREATE TABLE AspNetRoleClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, RoleId TEXT NOT NULL, ClaimType TEXT NULL, ClaimValue TEXT NULL);
CREATE TABLE AspNetUserClaims (Id INTEGER PRIMARY KEY AUTOINCREMENT, UserId TEXT NOT NULL, ClaimType TEXT NULL, ClaimValue TEXT NULL);
CREATE TABLE AspNetUserLogins (LoginProvider TEXT NOT NULL, ProviderKey TEXT NOT NULL, ProviderDisplayName TEXT NULL, UserId TEXT NOT NULL, PRIMARY KEY (LoginProvider, ProviderKey));
CREATE TABLE AspNetUserRoles (UserId TEXT NOT NULL, RoleId TEXT NOT NULL, PRIMARY KEY (UserId, RoleId));
CREATE TABLE AspNetUserTokens (UserId TEXT NOT NULL, LoginProvider TEXT NOT NULL, Name TEXT NOT NULL, Value TEXT NULL, PRIMARY KEY (UserId, LoginProvider, Name));
