//! Tenancy and customers: merchants, customers, B2B contacts, identifiers, merge audit.
//!
//! Keys: every tenant-owned row is keyed by `(merchant_id, <its id>)`, a composite natural
//! primary key. All APIs address resources as `merchants/{m}/customers/{c}`, so the natural
//! key is what every query filters by; InnoDB clusters rows by primary key, so a
//! merchant's customers are stored together and merchant-scoped scans and AIP-158
//! pagination (`ORDER BY id`) read contiguous pages without a secondary-index hop. A
//! surrogate `BIGINT` would only add a translation lookup on every request and a second
//! unique index to maintain. Ids are short (<= 64 chars), so the wide key costs little.
//!
//! Foreign keys exist only inside one aggregate (contacts and identifiers belong to their
//! customer); tenant existence and cross-service references are checked by the services,
//! so that each service can write its own tables without ordering constraints.

use sea_orm_migration::prelude::*;

use super::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
    DisplayName,
    BaseCurrency,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    MerchantId,
    Id,
    Kind,
    GivenName,
    FamilyName,
    Email,
    Phone,
    Country,
    Region,
    City,
    CityTier,
    BirthYear,
    AgeBand,
    Gender,
    Language,
    PreferredCurrency,
    AcquisitionChannel,
    CompanyName,
    Industry,
    SizeBand,
    RevenueBand,
    Website,
    BusinessType,
    YearFounded,
    RegistrationNumber,
    StarRating,
    Source,
    ImportTags,
    Consents,
    MergedInto,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomerContacts {
    Table,
    MerchantId,
    CustomerId,
    Id,
    Name,
    JobTitle,
    DecisionMaker,
    Email,
    Phone,
    PreferredChannel,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CustomerIdentifiers {
    Table,
    MerchantId,
    Kind,
    ValueHash,
    CustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdentityMerges {
    Table,
    Id,
    MerchantId,
    SourceCustomerId,
    TargetCustomerId,
    Reason,
    Actor,
    MergedAt,
}

fn customer_fk(from: impl IntoIden + 'static, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(from)
        .from_col("merchant_id")
        .from_col("customer_id")
        .to_tbl(Customers::Table)
        .to_col(Customers::MerchantId)
        .to_col(Customers::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = Types::of(manager);

        create_table(
            manager,
            Table::create()
                .table(Merchants::Table)
                .col(id(Merchants::Id).primary_key())
                .col(varchar(Merchants::DisplayName, NAME_LEN))
                .col(currency(Merchants::BaseCurrency))
                .col(t.ts(Merchants::CreatedAt))
                .col(t.ts(Merchants::UpdatedAt))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(Customers::Table)
                .col(id(Customers::MerchantId))
                .col(id(Customers::Id))
                .col(code(Customers::Kind))
                .col(varchar_null(Customers::GivenName, NAME_LEN))
                .col(varchar_null(Customers::FamilyName, NAME_LEN))
                .col(varchar_null(Customers::Email, 320))
                .col(varchar_null(Customers::Phone, 64))
                .col(country_null(Customers::Country))
                .col(varchar_null(Customers::Region, 128))
                .col(varchar_null(Customers::City, 128))
                .col(small_null(Customers::CityTier))
                .col(int_null(Customers::BirthYear))
                .col(code_null(Customers::AgeBand))
                .col(code_null(Customers::Gender))
                .col(varchar_null(Customers::Language, 35))
                .col(currency_null(Customers::PreferredCurrency))
                .col(code_null(Customers::AcquisitionChannel))
                .col(varchar_null(Customers::CompanyName, NAME_LEN))
                .col(varchar_null(Customers::Industry, 128))
                .col(code_null(Customers::SizeBand))
                .col(code_null(Customers::RevenueBand))
                .col(varchar_null(Customers::Website, 512))
                .col(code_null(Customers::BusinessType))
                .col(int_null(Customers::YearFounded))
                .col(varchar_null(Customers::RegistrationNumber, 128))
                .col(small_null(Customers::StarRating))
                .col(varchar_null(Customers::Source, 64))
                .col(json_null(Customers::ImportTags))
                .col(json_null(Customers::Consents))
                .col(id_null(Customers::MergedInto))
                .col(t.ts_null(Customers::DeletedAt))
                .col(t.ts(Customers::CreatedAt))
                .col(t.ts(Customers::UpdatedAt))
                .primary_key(&mut pk([Customers::MerchantId, Customers::Id]))
                .take(),
            vec![
                index(
                    "idx_customers_merchant_country",
                    Customers::Table,
                    [Customers::MerchantId, Customers::Country],
                ),
                index(
                    "idx_customers_merchant_kind",
                    Customers::Table,
                    [Customers::MerchantId, Customers::Kind],
                ),
                index(
                    "idx_customers_merchant_merged_into",
                    Customers::Table,
                    [Customers::MerchantId, Customers::MergedInto],
                ),
            ],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(CustomerContacts::Table)
                .col(id(CustomerContacts::MerchantId))
                .col(id(CustomerContacts::CustomerId))
                .col(id(CustomerContacts::Id))
                .col(varchar_null(CustomerContacts::Name, NAME_LEN))
                .col(varchar_null(CustomerContacts::JobTitle, NAME_LEN))
                .col(boolean(CustomerContacts::DecisionMaker))
                .col(varchar_null(CustomerContacts::Email, 320))
                .col(varchar_null(CustomerContacts::Phone, 64))
                .col(code_null(CustomerContacts::PreferredChannel))
                .col(t.ts(CustomerContacts::CreatedAt))
                .col(t.ts(CustomerContacts::UpdatedAt))
                .primary_key(&mut pk([
                    CustomerContacts::MerchantId,
                    CustomerContacts::CustomerId,
                    CustomerContacts::Id,
                ]))
                .foreign_key(&mut customer_fk(
                    CustomerContacts::Table,
                    "fk_customer_contacts_customer",
                ))
                .take(),
            vec![],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(CustomerIdentifiers::Table)
                .col(id(CustomerIdentifiers::MerchantId))
                .col(code(CustomerIdentifiers::Kind))
                .col(varchar(CustomerIdentifiers::ValueHash, NAME_LEN))
                .col(id(CustomerIdentifiers::CustomerId))
                .col(t.ts(CustomerIdentifiers::CreatedAt))
                .primary_key(&mut pk([
                    CustomerIdentifiers::MerchantId,
                    CustomerIdentifiers::Kind,
                    CustomerIdentifiers::ValueHash,
                ]))
                .foreign_key(&mut customer_fk(
                    CustomerIdentifiers::Table,
                    "fk_customer_identifiers_customer",
                ))
                .take(),
            vec![index(
                "idx_customer_identifiers_customer",
                CustomerIdentifiers::Table,
                [
                    CustomerIdentifiers::MerchantId,
                    CustomerIdentifiers::CustomerId,
                ],
            )],
        )
        .await?;

        create_table(
            manager,
            Table::create()
                .table(IdentityMerges::Table)
                .col(seq_pk(IdentityMerges::Id))
                .col(id(IdentityMerges::MerchantId))
                .col(id(IdentityMerges::SourceCustomerId))
                .col(id(IdentityMerges::TargetCustomerId))
                .col(varchar(IdentityMerges::Reason, NAME_LEN))
                .col(varchar(IdentityMerges::Actor, 128))
                .col(t.ts(IdentityMerges::MergedAt))
                .take(),
            vec![
                index(
                    "idx_identity_merges_source",
                    IdentityMerges::Table,
                    [IdentityMerges::MerchantId, IdentityMerges::SourceCustomerId],
                ),
                index(
                    "idx_identity_merges_target",
                    IdentityMerges::Table,
                    [IdentityMerges::MerchantId, IdentityMerges::TargetCustomerId],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                IdentityMerges::Table.into_iden(),
                CustomerIdentifiers::Table.into_iden(),
                CustomerContacts::Table.into_iden(),
                Customers::Table.into_iden(),
                Merchants::Table.into_iden(),
            ],
        )
        .await
    }
}
