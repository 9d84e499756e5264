# Terraform >= 1.14: `terraform query -generate-config-out=generated.tf`
# writes an import block and a ucloud_custom_image block for every golden
# image in cn-bj2; fill in ufile_url, format and os_type there, which UCloud
# does not keep.
list "ucloud_custom_image" "golden" {
  provider = ucloud
  limit    = 100

  config {
    name_regex = "-golden$"
    region     = "cn-bj2"
  }
}
