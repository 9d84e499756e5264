# A pipeline that imports the images a build produced into one bucket, and
# hands their ids to whatever launches instances from them.
terraform {
  required_providers {
    ucloud = {
      source = "ucloud-rs/ucloud"
    }
  }
}

provider "ucloud" {
  region = "cn-bj2"
}

module "golden" {
  source = "./modules/golden-images"

  bucket_url = "https://build-artifacts.cn-bj.ufileos.com/2026-11-26"
  build_id   = "build-1842"
}

output "base_image_id" {
  value = module.golden.base_image_id
}

output "app_image_id" {
  value = module.golden.app_image_id
}
