"""The certificate PDF (认证证书): its layout, media, signature, and issuing it once."""
