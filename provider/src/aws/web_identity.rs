//! `assume_role_with_web_identity`: the provider's credentials from STS
//! AssumeRoleWithWebIdentity, as the AWS provider's block of that name gets them — an OIDC token
//! (a CI system's, a Kubernetes service account's) given inline or read from a file at each
//! refresh (such files are rotated), exchanged for the role's session credentials. The SDK's
//! identity cache keeps them and asks again before they expire.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, future, ProvideCredentials};
use aws_credential_types::Credentials;

/// Where the token comes from.
#[derive(Debug, Clone)]
pub enum Token {
    Inline(String),
    File(PathBuf),
}

/// The credentials provider.
#[derive(Debug)]
pub struct WebIdentity {
    /// STS, reached without credentials (the call is unsigned).
    pub sts: aws_sdk_sts::Client,
    pub role_arn: String,
    pub token: Token,
    pub session_name: String,
    pub duration: Option<Duration>,
}

impl WebIdentity {
    async fn fetch(&self) -> provider::Result {
        let token = match &self.token {
            Token::Inline(token) => token.clone(),
            Token::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    CredentialsError::invalid_configuration(format!(
                        "cannot read the web identity token file {} ({e})",
                        path.display()
                    ))
                })?
                .trim()
                .to_string(),
        };
        let out = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&self.role_arn)
            .role_session_name(&self.session_name)
            .web_identity_token(token)
            .set_duration_seconds(self.duration.map(|d| d.as_secs() as i32))
            .send()
            .await
            .map_err(|e| {
                let e = super::AwsError::from(e);
                CredentialsError::provider_error(format!(
                    "AssumeRoleWithWebIdentity of {}: {}",
                    self.role_arn, e.message
                ))
            })?;
        let creds = out.credentials().ok_or_else(|| {
            CredentialsError::unhandled("AssumeRoleWithWebIdentity returned no credentials")
        })?;
        Ok(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            SystemTime::try_from(*creds.expiration()).ok(),
            "AssumeRoleWithWebIdentity",
        ))
    }
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.fetch())
    }
}
