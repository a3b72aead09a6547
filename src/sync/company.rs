//! The Password Boss company a sync reaches, as `GET /v1/connector` names it.

use crate::bounded::remote_text;
use crate::passwordboss::model::ConnectorInfo;
use crate::resources::CompanyRef;

/// The company `GET /v1/connector` names, cleaned for status and logs (it is remote text).
pub fn company_of(info: &ConnectorInfo) -> CompanyRef {
    CompanyRef {
        id: remote_text(&info.company_id),
        name: remote_text(&info.company_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company() -> CompanyRef {
        CompanyRef {
            id: "c_1".into(),
            name: "Contoso".into(),
        }
    }

    #[test]
    fn the_company_name_is_cleaned_remote_text() {
        let info = ConnectorInfo {
            company_id: "c_1".into(),
            company_name: "Con\u{202E}toso".into(),
            licenses: Default::default(),
        };
        assert_eq!(company_of(&info), company());
    }
}
